#include "stack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "sequences.hpp"

namespace conformance {
namespace {

// Waits (inotify, deadline) until a file named `name` is written or moved
// into the watched directory.
bool wait_for_file(int inotify_fd, const std::string& name, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    alignas(inotify_event) char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{inotify_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        const ssize_t n = ::read(inotify_fd, buf, sizeof buf);
        if (n <= 0) return false;
        for (ssize_t off = 0; off < n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
            if (e->len && name == e->name) return true;
            off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        }
    }
}

using namespace std::chrono_literals;

bool accepts_connections(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// A reader that goes away (`| head`) must not kill the test with SIGPIPE
// before the destructors stop nginx and vigil-proxy.
[[maybe_unused]] const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}();

void skip(const std::string& why) {
    std::cout << "SKIPPED: " << why << std::endl;
    std::exit(skip_code);
}

std::string require_tool(const std::string& name, std::initializer_list<const char*> candidates) {
    for (const char* c : candidates)
        if (::access(c, X_OK) == 0) return c;
    skip(name + " not installed (scripts/setup.sh installs it)");
}

Nginx::Nginx(const std::string& binary, int upstream_port) {
    port_ = proxytest::free_port();
    const std::string d = dir_.path;
    // Run as root, nginx would start its worker as `nobody`, which cannot
    // enter this 0700 temp dir; the worker keeps our user instead.
    std::string user;
    if (::geteuid() == 0)
        if (const passwd* pw = ::getpwuid(0)) user = "user " + std::string(pw->pw_name) + ";\n";
    // master_process off: the one process is the worker, so the parent-death
    // signal below takes all of nginx with it.
    std::ofstream(d + "/nginx.conf")
        << user << "worker_processes 1;\ndaemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\nerror_log " << d
        << "/error.log info;\nevents { worker_connections 1024; }\nhttp {\n"
        << "  access_log off;\n"
        << "  client_body_temp_path " << d << "/body; proxy_temp_path " << d << "/proxy;\n"
        << "  fastcgi_temp_path " << d << "/fastcgi; uwsgi_temp_path " << d << "/uwsgi; scgi_temp_path " << d
        << "/scgi;\n"
        << "  client_max_body_size " << max_body << ";\n"
        // wrk and ab keep one connection for thousands of requests.
        << "  keepalive_requests 100000;\n"
        << "  upstream recorder { server 127.0.0.1:" << upstream_port << "; keepalive 16; keepalive_requests 100000; }\n"
        << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    location / {\n"
        << "      proxy_pass http://recorder;\n      proxy_http_version 1.1;\n"
        << "      proxy_set_header Connection \"\";\n"
        // As vigil-proxy: the client's Host as sent, bodies streamed both ways.
        << "      proxy_set_header Host $http_host;\n"
        << "      proxy_request_buffering off;\n      proxy_buffering off;\n    }\n  }\n}\n";
    std::vector<std::string> argv{binary, "-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log"};
    // If this test process is killed (ctest's timeout, a closed pipe), nginx
    // must not outlive it holding its port: setpriv (util-linux) arms
    // PR_SET_PDEATHSIG before exec.
    if (::access("/usr/bin/setpriv", X_OK) == 0) argv.insert(argv.begin(), {"/usr/bin/setpriv", "--pdeathsig", "KILL", "--"});
    // nginx writes its pid file once its listening sockets are open: the
    // event to wait on (inotify), watched before nginx starts.
    const int in = ::inotify_init1(IN_CLOEXEC);
    if (in < 0 || ::inotify_add_watch(in, d.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
        throw std::runtime_error("inotify on " + d + " failed");
    proc_.emplace(argv);
    const bool written = wait_for_file(in, "nginx.pid", 10s);
    ::close(in);
    if (!written || !accepts_connections(port_))
        throw std::runtime_error("nginx did not start:\n" + proc_->output() + slurp(d + "/error.log"));
}

Nginx::~Nginx() {
    proc_->signal(SIGTERM);
    proc_->wait_exit(5000ms);
}

Stack::Stack() {
    // VIGIL_NGINX names another nginx (and lets one check the skip path).
    const char* own = std::getenv("VIGIL_NGINX");
    const std::string nginx_bin =
        own ? require_tool("nginx", {own}) : require_tool("nginx", {"/usr/sbin/nginx", "/usr/bin/nginx"});
    nginx = std::make_unique<Nginx>(nginx_bin, rec.port());
    vigil = proxytest::start_proxy(
        "[upstream:recorder]\nservers = 127.0.0.1:" + std::to_string(rec.port()) +
            "\n\n[proxy:conformance]\nlisten = 127.0.0.1:{PORT}\nroute = / recorder\n",
        {"--workers", "1", "--access-log", "off", "--max-body", std::to_string(max_body)});
}

}  // namespace conformance
