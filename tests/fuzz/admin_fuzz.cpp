// libFuzzer target: vigil-proxy's admin API request handling, from raw bytes
// on the admin socket to the reply — Beast's request parser with
// admin_server's limits (header 16 KiB, body 1 MiB), possibly several
// pipelined requests, each handed to proxy::handle_admin() over a Registry
// built from a small fixed config.
//
// Each input starts from a fresh copy of that Registry, so runs are
// independent. After every request that changed it, the published snapshot
// must be one the workers can use: route indexes inside the pool list,
// server ids below server_ids, and the data path's decisions (pick_server,
// record_failure/success, clear_health) sound on every pool, the way a worker
// would run them right after the swap.
//
// Addresses go through getaddrinfo(); to keep runs offline and fast, this
// file interposes it with a version that resolves numeric hosts and
// "localhost" only (a name vigild never pushes anyway).
#include <dlfcn.h>
#include <netdb.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "proxy/admin_api.hpp"
#include "proxy/metrics.hpp"
#include "proxy/pool.hpp"
#include "proxy/registry.hpp"
#include "tests/fuzz/beast_input.hpp"

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
    using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
    static const Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "getaddrinfo"));
    struct addrinfo h {};
    if (hints) h = *hints;
    if (!node || std::strcmp(node, "localhost") != 0) h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

namespace {

using namespace vigil;
using namespace vigil::proxy;

constexpr std::size_t kHeaderLimit = 16 * 1024;  // admin_server.cpp
constexpr std::size_t kBodyLimit = 1024 * 1024;

const Registry& pristine() {
    static const Registry* reg = [] {
        const char* text = R"([vigil]
state_dir = /tmp
[program:app]
command = /nonexistent/vigil-fuzz-app
numprocs = 3
process_name = app-%(process_num)d
address = 127.0.0.1:410%(process_num)d
[program:proxy]
kind = proxy
[upstream:web]
servers = app 127.0.0.1:5000
max_fails = 2
fail_timeout = 5s
[upstream:api]
balance = round_robin
servers = [::1]:5001 localhost:5002
[proxy:public]
listen = 127.0.0.1:18080
route = / web
route = /api/ api
route = /api/v2/ api
)";
        auto loaded = config::load_string(text, "/tmp/admin-fuzz.ini", {});
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
            fuzz::fail("the admin fuzz config does not load");
        }
        std::vector<std::string> errors;
        auto r = Registry::from_config(*loaded.config, errors);
        for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
        if (!r) fuzz::fail("the admin fuzz registry does not build");
        return new Registry(std::move(*r));
    }();
    return *reg;
}

// What a worker does with a fresh snapshot, on a fixed clock.
void exercise(const Snapshot& snap) {
    for (const RouteTable& t : snap.routes)
        for (const auto& e : t.entries())
            VIGIL_FUZZ_CHECK(e.pool_index >= -1 && e.pool_index < static_cast<int>(snap.pools.size()));
    const TimePoint now = TimePoint(std::chrono::hours(24 * 365));
    for (const Pool& p : snap.pools) {
        VIGIL_FUZZ_CHECK(p.counters != nullptr);
        VIGIL_FUZZ_CHECK(p.max_fails >= 0 && p.fail_timeout.count() >= 0);
        VIGIL_FUZZ_CHECK(snap.find_pool(p.name) != nullptr);
        for (const ServerEntry& s : p.servers) {
            VIGIL_FUZZ_CHECK(s.stats != nullptr && s.stats->id < snap.server_ids);
            VIGIL_FUZZ_CHECK(!s.ip.empty() && s.port != 0);
        }
        TriedSet tried;
        const int first = pick_server(p, now, tried);
        VIGIL_FUZZ_CHECK(first >= -1 && first < static_cast<int>(p.servers.size()));
        if (first < 0) continue;
        VIGIL_FUZZ_CHECK(p.servers[first].mode == ServerMode::up);
        // Fail it until it is ejected (or accounting says never), then let it recover.
        const int rounds = p.max_fails < 8 ? p.max_fails + 1 : 8;
        for (int i = 0; i < rounds; ++i) record_failure(p, static_cast<std::size_t>(first), now);
        tried.add(static_cast<std::size_t>(first));
        const int second = pick_server(p, now, tried);
        VIGIL_FUZZ_CHECK(second >= -1 && second < static_cast<int>(p.servers.size()) && second != first);
        (void)p.servers[first].stats->ejected(now + p.fail_timeout);
        record_success(*p.servers[first].stats);
        clear_health(*p.servers[first].stats);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Registry reg = pristine();
    static const std::vector<std::unique_ptr<ListenerStats>> no_stats;
    std::string_view bytes(reinterpret_cast<const char*>(data), size);

    for (int n = 0; n < 8 && !bytes.empty(); ++n) {
        auto req = fuzz::next_request(bytes, kHeaderLimit, kBodyLimit);
        if (!req) break;
        const auto before = reg.snapshot();
        // No try: admin_server.cpp would turn an exception into a 500, but
        // handle_admin answers every bad input with a status of its own, so
        // an exception escaping it is a bug (and a 500 the client cannot fix).
        AdminReply r = handle_admin(reg, req->method_string(), req->target(), req->body(),
                                    [&] { return render_metrics(*reg.snapshot(), no_stats); });
        VIGIL_FUZZ_CHECK(r.status >= 200 && r.status <= 599);
        VIGIL_FUZZ_CHECK(!r.body.empty());
        const auto after = reg.snapshot();
        VIGIL_FUZZ_CHECK(after != nullptr);
        if (r.status >= 400) VIGIL_FUZZ_CHECK(!r.changed && after == before);
        if (after != before) VIGIL_FUZZ_CHECK(after->version > before->version);
        exercise(*after);
    }
    return 0;
}
