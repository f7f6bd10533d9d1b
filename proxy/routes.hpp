// Path-prefix routes of one listener: the longest matching prefix wins, so
// `/api/` and `/api/admin/` can go to different pools whatever their order in
// the config.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::proxy {

class RouteTable {
public:
    struct Entry {
        std::string prefix;
        std::string pool;
        int pool_index = -1;  // into Snapshot::pools; -1 when the pool is gone (503)
    };

    void add(std::string prefix, std::string pool, int pool_index) {
        entries_.push_back({std::move(prefix), std::move(pool), pool_index});
        std::stable_sort(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.prefix.size() > b.prefix.size(); });
    }

    // The entry whose prefix is the longest prefix of `target`, or nullptr.
    const Entry* match(std::string_view target) const noexcept {
        for (const Entry& e : entries_)
            if (target.substr(0, e.prefix.size()) == e.prefix) return &e;
        return nullptr;
    }

    const std::vector<Entry>& entries() const noexcept { return entries_; }

private:
    std::vector<Entry> entries_;  // longest prefix first
};

}  // namespace vigil::proxy
