// Shared by the Kubernetes export tests: a config text → the manifest, and
// lookups into its objects that fail the test when a field is missing.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "../config/helpers.hpp"
#include "supervisor/ctl/k8s_manifest.hpp"

namespace k8stest {

using vigil::k8s::ExportOptions;
using vigil::k8s::Manifest;
using vigil::k8s::Object;
using vigil::yaml::Node;

// postgres kinds name pg_bin_dir, so no test depends on this machine's PostgreSQL.
inline Manifest exported(std::string_view ini, const ExportOptions& options = {}) {
    return vigil::k8s::build_manifest(cfgtest::ok(ini), options);
}

inline const Object& object(const Manifest& m, const std::string& kind, const std::string& name) {
    for (const auto& o : m.objects)
        if (o.kind() == kind && o.name() == name) return o;
    FAIL("no " << kind << " " << name);
    return m.objects.front();
}

inline bool has(const Manifest& m, const std::string& kind, const std::string& name) {
    for (const auto& o : m.objects)
        if (o.kind() == kind && o.name() == name) return true;
    return false;
}

// The text of a scalar at `path`; fails when absent.
inline std::string at(const Node& n, std::initializer_list<std::string_view> path) {
    const Node* v = n.at(path);
    INFO("path " << [&] {
        std::string s;
        for (auto p : path) s += "/" + std::string(p);
        return s;
    }());
    REQUIRE(v != nullptr);
    return v->text;
}

inline const Node& container(const Object& o) {
    const Node* c = o.body.at({"spec", "template", "spec", "containers", "0"});
    REQUIRE(c != nullptr);
    return *c;
}

inline std::vector<std::string> texts(const Node* list) {
    REQUIRE(list != nullptr);
    std::vector<std::string> out;
    for (const auto& i : list->items) out.push_back(i.text);
    return out;
}

inline bool noted(const Manifest& m, const std::string& needle) {
    for (const auto& n : m.not_expressible)
        if (n.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace k8stest
