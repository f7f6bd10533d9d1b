// The HTTP side of supervisord's protocol on vigild's control socket:
// POST /RPC2 (XML-RPC) and GET /logtail/NAME/CHANNEL, the stream that
// supervisorctl's `tail -f` and `fg` read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/percent.hpp"
#include "supervisor/control_api.hpp"
#include "supervisor/xmlrpc/interface.hpp"

namespace vigil::supervisor {
namespace {

// supervisord's logtail starts with the last 1 KiB of the file.
std::string last_bytes(const std::string& path, long long want) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    struct stat st {};
    ::fstat(fd, &st);
    const long long from = std::max(0LL, static_cast<long long>(st.st_size) - want);
    out.resize(static_cast<std::size_t>(st.st_size - from));
    const ssize_t n = ::pread(fd, out.data(), out.size(), from);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    ::close(fd);
    return out;
}

}  // namespace

bool ControlApi::supervisord_route(const ApiRequest& req, const std::string& path, Reply& reply) {
    if (!xmlrpc_) return false;
    if (path == "/RPC2") {
        if (req.method != "POST") {
            reply(error_response(405, "XML-RPC wants POST"));
            return true;
        }
        xmlrpc_->handle(req.body, [reply](std::string xml) {
            ApiResponse r;
            r.content_type = "text/xml";
            r.body = std::move(xml);
            reply(std::move(r));
        }, req.access);
        return true;
    }
    if (path.rfind("/logtail/", 0) != 0 || req.method != "GET") return false;
    // /logtail/NAME or /logtail/NAME/stdout|stderr; NAME may be group:name.
    std::string rest = path.substr(9), channel = "stdout";
    if (const std::size_t slash = rest.rfind('/'); slash != std::string::npos) {
        channel = rest.substr(slash + 1);
        rest.resize(slash);
    }
    const std::string name = percent_decode(rest);  // %3A from careful clients; a bad escape stays as written
    bool known = false;
    const std::string file = xmlrpc_->log_path(name, channel, known);
    if (!known || (channel != "stdout" && channel != "stderr")) {
        reply(error_response(404, "no such process or channel: " + name + "/" + channel));
        return true;
    }
    if (file.empty()) {
        reply(error_response(404, name + ": " + channel + " has no log file"));
        return true;
    }
    ProcessRunner* r = nullptr;
    const std::size_t colon = name.find(':');
    r = sup_.find(colon == std::string::npos ? name : name.substr(colon + 1));
    ApiResponse resp;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = last_bytes(file, 1024);
    resp.stream = ApiResponse::Stream::log;
    resp.stream_process = r ? r->name() : name;
    resp.stream_fd = channel == "stdout" || (r && r->program().redirect_stderr) ? 1 : 2;
    reply(std::move(resp));
    return true;
}

}  // namespace vigil::supervisor
