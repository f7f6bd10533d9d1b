// Replays fuzz inputs through the fuzz targets' entry points without
// libFuzzer: the regression check ctest runs on every build (label `fuzz`).
// Each *_fuzz.cpp is compiled into this binary with its
// LLVMFuzzerTestOneInput renamed to <target>_one (see CMakeLists.txt).
//
//   vigil_fuzz_replay CORPUS_ROOT            every file of CORPUS_ROOT/<target>/ for every target built in
//   vigil_fuzz_replay TARGET FILE|DIR...     the given inputs through one target (reproducing a crash)
//
// A target that crashes or breaks an invariant aborts the process, after
// printing which file it was running. Inputs run on a thread with a 1 MiB
// stack: nothing vigil does on outside input should recurse deeply, and a
// small stack lets a small seed catch a deep-recursion regression (libFuzzer
// itself runs on the main thread's 8 MiB).
#include <pthread.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

using Entry = int (*)(const std::uint8_t*, std::size_t);

extern "C" int config_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int control_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int pg_handshake_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int redis_reply_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int xmlrpc_fuzz_one(const std::uint8_t*, std::size_t);
#ifdef VIGIL_FUZZ_PROXY
extern "C" int http_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int admin_fuzz_one(const std::uint8_t*, std::size_t);
extern "C" int session_fuzz_one(const std::uint8_t*, std::size_t);
#endif

namespace {

constexpr std::size_t kStack = 1 << 20;

struct Target {
    const char* name;
    Entry entry;
};

const std::vector<Target> targets = {
    {"config_fuzz", config_fuzz_one},
    {"control_fuzz", control_fuzz_one},
    {"pg_handshake_fuzz", pg_handshake_fuzz_one},
    {"redis_reply_fuzz", redis_reply_fuzz_one},
    {"xmlrpc_fuzz", xmlrpc_fuzz_one},
#ifdef VIGIL_FUZZ_PROXY
    {"http_fuzz", http_fuzz_one},
    {"admin_fuzz", admin_fuzz_one},
    {"session_fuzz", session_fuzz_one},
#endif
};

std::vector<fs::path> files_of(const fs::path& p) {
    std::vector<fs::path> out;
    if (fs::is_directory(p)) {
        for (const auto& e : fs::directory_iterator(p))
            if (e.is_regular_file()) out.push_back(e.path());
        std::sort(out.begin(), out.end());
    } else {
        out.push_back(p);
    }
    return out;
}

bool run(const Target& t, const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot read %s\n", t.name, file.c_str());
        return false;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "%s: %s (%zu bytes)\n", t.name, file.c_str(), bytes.size());
    // Like libFuzzer, give the target a buffer of exactly the input's size.
    struct Call {
        Entry entry;
        std::vector<std::uint8_t> data;
    } call{t.entry, std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kStack);
    pthread_t thread;
    const int rc = pthread_create(
        &thread, &attr,
        [](void* p) -> void* {
            auto* c = static_cast<Call*>(p);
            c->entry(c->data.empty() ? nullptr : c->data.data(), c->data.size());
            return nullptr;
        },
        &call);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        std::fprintf(stderr, "%s: cannot start a thread\n", t.name);
        return false;
    }
    pthread_join(thread, nullptr);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_ROOT | TARGET FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        const fs::path root = argv[1];
        std::size_t total = 0;
        bool ok = true;
        for (const Target& t : targets) {
            const fs::path dir = root / t.name;
            if (!fs::is_directory(dir)) {
                std::fprintf(stderr, "%s: no corpus at %s\n", t.name, dir.c_str());
                ok = false;
                continue;
            }
            std::size_t n = 0;
            for (const auto& f : files_of(dir)) ok = run(t, f) && ok, ++n;
            if (n == 0) {
                std::fprintf(stderr, "%s: empty corpus %s\n", t.name, dir.c_str());
                ok = false;
            }
            std::printf("%s: %zu inputs replayed\n", t.name, n);
            total += n;
        }
        std::printf("%zu inputs replayed through %zu targets\n", total, targets.size());
        return ok ? 0 : 1;
    }
    const std::string name = argv[1];
    auto it = std::find_if(targets.begin(), targets.end(), [&](const Target& t) { return name == t.name; });
    if (it == targets.end()) {
        std::fprintf(stderr, "unknown target %s\n", name.c_str());
        return 2;
    }
    bool ok = true;
    for (int i = 2; i < argc; ++i)
        for (const auto& f : files_of(argv[i])) ok = run(*it, f) && ok;
    return ok ? 0 : 1;
}
