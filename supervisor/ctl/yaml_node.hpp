// A small tree of YAML values (maps keep their order, as kubectl prints
// them) that the Kubernetes mapping builds and yaml_writer prints. Kept apart
// from both so the mapping can be tested on the tree, field by field.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::yaml {

struct Node {
    enum class Type { map, list, str, num, boolean };
    Type type = Type::map;
    std::string text;  // str: the value; num: decimal digits; boolean: true or false
    std::vector<std::pair<std::string, Node>> entries;  // map
    std::vector<Node> items;                            // list
    std::string comment;  // scalars: printed after the value, on its line

    static Node map() { return {}; }
    static Node list() { return Node{Type::list, {}, {}, {}, {}}; }
    static Node str(std::string s, std::string comment = {}) {
        return Node{Type::str, std::move(s), {}, {}, std::move(comment)};
    }
    static Node num(std::int64_t n) { return Node{Type::num, std::to_string(n), {}, {}, {}}; }
    static Node boolean(bool b) { return Node{Type::boolean, b ? "true" : "false", {}, {}, {}}; }

    // Sets `key` (replacing an earlier value in place) and returns the value.
    Node& set(const std::string& key, Node value) {
        for (auto& [k, v] : entries)
            if (k == key) return v = std::move(value);
        entries.emplace_back(key, std::move(value));
        return entries.back().second;
    }
    Node& push(Node value) {
        items.push_back(std::move(value));
        return items.back();
    }

    const Node* get(std::string_view key) const {
        for (const auto& [k, v] : entries)
            if (k == key) return &v;
        return nullptr;
    }
    // Follows map keys and list indexes ("0", "1" …); nullptr when absent.
    const Node* at(std::initializer_list<std::string_view> path) const {
        const Node* n = this;
        for (auto step : path) {
            if (!n) return nullptr;
            if (n->type == Type::list) {
                std::size_t i = 0;
                for (char c : step) {
                    if (c < '0' || c > '9') return nullptr;
                    i = i * 10 + static_cast<std::size_t>(c - '0');
                }
                n = i < n->items.size() ? &n->items[i] : nullptr;
            } else {
                n = n->get(step);
            }
        }
        return n;
    }
};

}  // namespace vigil::yaml
