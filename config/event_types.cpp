#include "config/event_types.hpp"

#include <array>

namespace vigil::config {
namespace {

struct Type {
    std::string_view name;
    std::string_view parent;  // empty for EVENT
};

constexpr std::array<Type, 27> kTypes{{
    {"EVENT", ""},
    {"PROCESS_STATE", "EVENT"},
    {"PROCESS_STATE_STOPPED", "PROCESS_STATE"},
    {"PROCESS_STATE_EXITED", "PROCESS_STATE"},
    {"PROCESS_STATE_STARTING", "PROCESS_STATE"},
    {"PROCESS_STATE_STOPPING", "PROCESS_STATE"},
    {"PROCESS_STATE_BACKOFF", "PROCESS_STATE"},
    {"PROCESS_STATE_FATAL", "PROCESS_STATE"},
    {"PROCESS_STATE_RUNNING", "PROCESS_STATE"},
    {"PROCESS_STATE_UNKNOWN", "PROCESS_STATE"},
    {"PROCESS_COMMUNICATION", "EVENT"},
    {"PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION"},
    {"PROCESS_COMMUNICATION_STDERR", "PROCESS_COMMUNICATION"},
    {"PROCESS_LOG", "EVENT"},
    {"PROCESS_LOG_STDOUT", "PROCESS_LOG"},
    {"PROCESS_LOG_STDERR", "PROCESS_LOG"},
    {"REMOTE_COMMUNICATION", "EVENT"},
    {"SUPERVISOR_STATE_CHANGE", "EVENT"},
    {"SUPERVISOR_STATE_CHANGE_RUNNING", "SUPERVISOR_STATE_CHANGE"},
    {"SUPERVISOR_STATE_CHANGE_STOPPING", "SUPERVISOR_STATE_CHANGE"},
    {"TICK", "EVENT"},
    {"TICK_5", "TICK"},
    {"TICK_60", "TICK"},
    {"TICK_3600", "TICK"},
    {"PROCESS_GROUP", "EVENT"},
    {"PROCESS_GROUP_ADDED", "PROCESS_GROUP"},
    {"PROCESS_GROUP_REMOVED", "PROCESS_GROUP"},
}};

const Type* find(std::string_view name) noexcept {
    for (const auto& t : kTypes)
        if (t.name == name) return &t;
    return nullptr;
}

}  // namespace

bool is_event_type(std::string_view name) noexcept { return find(name) != nullptr; }

bool event_type_matches(std::string_view subscribed, std::string_view type) noexcept {
    // The hierarchy is three deep; the bound only guards against a cycle.
    for (int depth = 0; depth < 8 && !type.empty(); ++depth) {
        if (type == subscribed) return true;
        const Type* t = find(type);
        if (!t) return false;
        type = t->parent;
    }
    return false;
}

std::string event_type_names() {
    std::string out;
    for (const auto& t : kTypes) {
        if (!out.empty()) out += ", ";
        out += t.name;
    }
    return out;
}

}  // namespace vigil::config
