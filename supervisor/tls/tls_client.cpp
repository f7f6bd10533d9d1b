#include "supervisor/tls/tls_client.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <vector>

namespace vigil::tls {
namespace {

std::string exe_dir() {
    char path[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return {};
    std::string p(path, static_cast<std::size_t>(n));
    return p.substr(0, p.rfind('/'));
}

// Where the plugin is, in order: beside the executable (the build tree's
// vigild), the installed layout (bin/ → lib/vigil/), then the build tree's
// copy for the test binaries built elsewhere in it. Never from the
// environment: vigild runs as root.
std::vector<std::string> candidates() {
    std::vector<std::string> out;
    if (const std::string dir = exe_dir(); !dir.empty()) {
        out.push_back(dir + "/vigil-tls.so");
        out.push_back(dir + "/../lib/vigil/vigil-tls.so");
    }
#ifdef VIGIL_TLS_PLUGIN_BUILD_PATH
    out.push_back(VIGIL_TLS_PLUGIN_BUILD_PATH);
#endif
    return out;
}

class PluginCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "vigil-tls"; }
    std::string message(int) const override { return "TLS failure"; }
};

}  // namespace

const vigil_tls_api* client_api(std::string& error) {
    // Loaded once; a failure is retried at the next check (the plugin may
    // be installed meanwhile) and costs only a few failed stat() calls.
    static const vigil_tls_api* api = nullptr;
    if (api) return api;
    for (const auto& path : candidates()) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) continue;
        // Code loaded into a root daemon: only from a file that only root
        // or vigild's own user can change.
        if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
            error = path + " may be changed by users other than root and vigild's: not loaded";
            continue;
        }
        // RTLD_LOCAL: OpenSSL's symbols stay the plugin's own.
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            error = std::string("cannot load ") + ::dlerror();
            return nullptr;
        }
        auto entry = reinterpret_cast<vigil_tls_api_v1_fn>(::dlsym(handle, "vigil_tls_api_v1"));
        const vigil_tls_api* a = entry ? entry() : nullptr;
        if (!a || a->version != VIGIL_TLS_API_VERSION) {
            ::dlclose(handle);
            error = path + " is not a vigil TLS plugin of this version";
            return nullptr;
        }
        api = a;
        return api;
    }
    if (error.empty()) error = "https checks need vigil-tls.so (beside vigild or in ../lib/vigil/), not found";
    return nullptr;
}

const boost::system::error_category& plugin_category() {
    static const PluginCategory category;
    return category;
}

TlsClientStream::TlsClientStream(const vigil_tls_api& api, asio::ip::tcp::socket& socket, const char* sni,
                                 error_code& ec)
    : api_(api), socket_(socket) {
    socket_.non_blocking(true, ec);
    if (ec) return;
    session_ = api_.open(socket_.native_handle(), sni);
    if (!session_) ec = error_code(1, plugin_category());
}

TlsClientStream::~TlsClientStream() {
    if (session_) api_.close(session_);
}

std::string TlsClientStream::last_error() const { return api_.error(session_); }

}  // namespace vigil::tls
