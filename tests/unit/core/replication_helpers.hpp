// Shared by the replication core's unit tests: the first action of a type
// in a batch, and whether a batch logged a text.
#pragma once

#include <string_view>

#include "supervisor/core/replication.hpp"

namespace repltest {

using vigil::core::ReplAction;
using vigil::core::ReplActions;
using Type = ReplAction::Type;

inline const ReplAction* find(const ReplActions& out, Type t) {
    for (const auto& a : out)
        if (a.type == t) return &a;
    return nullptr;
}

inline bool logged(const ReplActions& out, std::string_view text) {
    for (const auto& a : out)
        if (a.type == Type::log && a.reason.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace repltest
