// libFuzzer target: vigild's control API request handling, from raw bytes on
// the socket to the JSON reply.
//
// The bytes go through Beast's request parser with control_server's limits
// (header 8 KiB, body 1 MiB), possibly several pipelined requests per input;
// each request that parses is handed to ControlApi::handle() over a real
// Supervisor. The Supervisor's programs are never started: their autostart
// is off, Supervisor::start() is never called, and the harness skips the
// verbs that spawn (POST …/start, …/restart, …/rolling-restart), so no process is ever forked
// — everything else (status, stop, signal, logs, reread, update, reload,
// events, metrics, version, shutdown) runs for real. After each request the
// io_context's ready handlers run, and the reply must have come exactly once.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "common/percent.hpp"
#include "config/loader.hpp"
#include "supervisor/control_api.hpp"
#include "supervisor/control_server.hpp"
#include "supervisor/supervisor.hpp"
#include "tests/fuzz/beast_input.hpp"

namespace {

namespace fs = std::filesystem;
using namespace vigil;

struct Harness {
    std::string dir;
    std::string config_text;
    boost::asio::io_context io;
    std::unique_ptr<supervisor::Supervisor> sup;
    std::unique_ptr<supervisor::ControlApi> api;
    int shutdowns = 0;

    Harness() {
        spdlog::set_level(spdlog::level::off);
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigil-control-fuzz.XXXXXX";
        if (!::mkdtemp(tmpl.data())) fuzz::fail("mkdtemp");
        dir = tmpl;
        fs::create_directories(dir + "/state");
        fs::create_directories(dir + "/log");
        // A log with content, so log reads (offsets, streams) have bytes to serve.
        std::ofstream(dir + "/log/web_0.out") << "line one\nline two\n" << std::string(3000, 'x') << "\n";
        // Commands that cannot run, in case anything ever tried to: nothing is
        // started (autostart off, start() never called, start verbs skipped).
        config_text = "[vigil]\n"
                      "control_socket = " + dir + "/vigil.sock\n"
                      "state_dir = " + dir + "/state\n"
                      "log_dir = " + dir + "/log\n"
                      "\n[program:db]\n"
                      "command = /nonexistent/vigil-fuzz-db\n"
                      "autostart = false\n"
                      "stdout_logfile = NONE\n"
                      "\n[program:web]\n"
                      "command = /nonexistent/vigil-fuzz-web\n"
                      "autostart = false\n"
                      "numprocs = 2\n"
                      "process_name = %(program_name)s_%(process_num)d\n"
                      "depends_on = db\n"
                      "stdout_logfile = " + dir + "/log/%(program_name)s_%(process_num)d.out\n"
                      "stderr_logfile = " + dir + "/log/%(program_name)s_%(process_num)d.err\n"
                      "\n[program:cache]\n"
                      "command = /nonexistent/vigil-fuzz-cache\n"
                      "autostart = false\n"
                      "redirect_stderr = true\n"
                      "\n[group:front]\n"
                      "programs = web,cache\n";
        auto loaded = load();
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
            fuzz::fail("the control fuzz config does not load");
        }
        sup = std::make_unique<supervisor::Supervisor>(io, std::move(*loaded.config), 1);
        api = std::make_unique<supervisor::ControlApi>(io, *sup, [this] { return load(); }, [this] { ++shutdowns; });
    }

    ~Harness() {
        api.reset();
        sup.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }

    config::LoadResult load() const {
        config::LoadOptions opts;
        opts.follow_includes = false;
        return config::load_string(config_text, dir + "/vigil.ini", opts);
    }
};

// The path segments the API routes on, decoded the way it decodes them.
std::vector<std::string> segments(const std::string& target) {
    std::vector<std::string> out;
    const std::string path = target.substr(0, target.find('?'));
    std::size_t i = 0;
    while (i < path.size()) {
        const std::size_t j = std::min(path.find('/', i), path.size());
        if (j > i) out.push_back(percent_decode(path.substr(i, j - i)));  // as the API decodes a segment
        i = j + 1;
    }
    return out;
}

bool would_spawn(const supervisor::ApiRequest& req) {
    if (req.method != "POST") return false;
    for (const auto& s : segments(req.target))
        if (s == "start" || s == "restart" || s == "rolling-restart") return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Harness harness;  // one Supervisor for the whole run; its temp dir goes at exit
    Harness* h = &harness;
    std::string_view bytes(reinterpret_cast<const char*>(data), size);

    for (int n = 0; n < 8 && !bytes.empty(); ++n) {
        auto req = fuzz::next_request(bytes, supervisor::ControlServer::kHeaderLimit,
                                      supervisor::ControlServer::kBodyLimit);
        if (!req) break;
        supervisor::ApiRequest api_req{std::string(req->method_string()), std::string(req->target()),
                                       std::move(req->body())};
        if (would_spawn(api_req)) continue;

        int replies = 0;
        supervisor::ApiResponse last;
        h->api->handle(api_req, [&replies, &last](supervisor::ApiResponse r) {
            ++replies;
            last = std::move(r);
        });
        h->io.poll();
        h->io.restart();
        // Every program is down, so even waiting requests settle at once.
        VIGIL_FUZZ_CHECK(replies == 1);
        VIGIL_FUZZ_CHECK(last.status >= 200 && last.status <= 599);
        VIGIL_FUZZ_CHECK(!last.content_type.empty());
        VIGIL_FUZZ_CHECK(last.body.size() <= (2u << 20));
        if (last.stream == supervisor::ApiResponse::Stream::none && last.content_type == "application/json")
            VIGIL_FUZZ_CHECK(!last.body.empty() && last.body.back() == '\n');
        // Nothing the API did may have started a process.
        for (const auto& name : h->sup->order()) {
            const auto* r = h->sup->find(name);
            VIGIL_FUZZ_CHECK(r != nullptr);
            VIGIL_FUZZ_CHECK(r->pid() <= 0);
        }
    }
    return 0;
}
