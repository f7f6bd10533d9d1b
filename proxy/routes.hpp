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
    //
    // A prefix that ends in '/' also takes its own path without the slash
    // (`/payments` and `/payments?x` for `route = /payments/ pool`), counted
    // as one byte shorter than the prefix, so a route written for the bare
    // path itself wins. nginx answers that case with a 301 to `/payments/`
    // for a proxy_pass location; a client following it re-sends a POST as a
    // GET without its body, so the request goes to the pool instead.
    const Entry* match(std::string_view target) const noexcept {
        const Entry* bare = nullptr;  // the longest bare-path match seen so far
        for (const Entry& e : entries_) {
            const std::string_view prefix = e.prefix;
            if (target.substr(0, prefix.size()) == prefix)
                return bare && bare->prefix.size() - 1 > prefix.size() ? bare : &e;
            if (!bare && prefix.size() >= 2 && prefix.back() == '/') {
                const std::string_view path = prefix.substr(0, prefix.size() - 1);
                if (target.substr(0, path.size()) == path && (target.size() == path.size() || target[path.size()] == '?'))
                    bare = &e;
            }
        }
        return bare;
    }

    const std::vector<Entry>& entries() const noexcept { return entries_; }

private:
    std::vector<Entry> entries_;  // longest prefix first
};

}  // namespace vigil::proxy
