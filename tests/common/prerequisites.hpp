// What a test needs from the host (root, a user, a program, PostgreSQL,
// cgroups), collected so that a test that cannot run says exactly what is
// missing and is reported SKIPPED (skip.hpp), never passed:
//
//   Prerequisites need;
//   need.root().user("redis").executable("/usr/bin/redis-server");
//   VIGIL_SKIP_UNLESS(need);
#pragma once

#include <string>
#include <vector>

#include "skip.hpp"

namespace vigil::test {

class Prerequisites {
public:
    Prerequisites& root();
    Prerequisites& user(const std::string& name);
    Prerequisites& executable(const std::string& path);
    // A PostgreSQL server (postgres, and each of `tools`) in one
    // /usr/lib/postgresql/*/bin.
    Prerequisites& postgres(const std::vector<std::string>& tools = {});
    // A cgroup hierarchy vigild can create groups in (root, v1 memory or v2).
    Prerequisites& cgroups();

    bool met() const { return missing_.empty(); }
    // "root, a postgres user, /usr/bin/psql"
    std::string missing() const;

private:
    std::vector<std::string> missing_;
};

// The newest /usr/lib/postgresql/*/bin holding a postgres binary, or "".
std::string pg_bin_dir();

}  // namespace vigil::test

#define VIGIL_SKIP_UNLESS(prerequisites)                                               \
    do {                                                                               \
        const ::vigil::test::Prerequisites vigil_need_ = (prerequisites); /* a copy: a temporary */ \
        if (!vigil_need_.met()) VIGIL_SKIP("missing " + vigil_need_.missing());        \
    } while (0)
