// The public entry points: run the steps of build.hpp in order, and turn
// anything unexpected (allocation failure) into an error rather than letting
// an exception out.
#include "config/loader.hpp"

#include <filesystem>
#include <new>

#include "config/build.hpp"

extern char** environ;

namespace vigil::config {
namespace {

namespace fs = std::filesystem;

std::string absolute_path(const std::string& name) {
    std::error_code ec;
    fs::path p = fs::absolute(name.empty() ? fs::path("config.ini") : fs::path(name), ec);
    if (ec) p = fs::path(name);
    return p.lexically_normal().string();
}

LoadResult build(std::string_view text, const std::string& display, const LoadOptions& options) {
    detail::Errors errors;
    std::string absolute = absolute_path(display);
    detail::Sources sources = detail::read_sources(text, display, absolute, options, errors);

    Config config;
    config.file = sources.main_file;
    detail::Where where;
    config.daemon = detail::daemon_defaults(sources.supervisord, options);
    // [vigil] after [supervisord]: when both set a thing (log_dir and
    // childlogdir, log_level and loglevel), [vigil] wins.
    detail::build_supervisord(sources.sections, options, errors, config.daemon);
    detail::build_daemon(sources.sections, options, errors, config.daemon);
    detail::build_http_servers(sources.sections, options, errors, config.daemon);
    // As in supervisord, [supervisord]'s environment is %(ENV_X)s for the
    // sections read after it.
    LoadOptions later = options;
    for (const auto& [key, value] : config.daemon.environment) later.env.insert_or_assign(key, value);
    config.groups = detail::build_groups(sources.sections, later, errors, where);
    config.upstreams = detail::build_upstreams(sources.sections, later, errors, where);
    config.proxies = detail::build_proxies(sources.sections, later, errors, where);
    const Program defaults = detail::program_defaults(sources.supervisord, config.daemon);
    config.programs =
        detail::build_programs(sources.sections, config.daemon, defaults, config.groups, where, later, errors);
    config.event_listeners = detail::build_event_listeners(sources.sections, config.daemon, defaults, config.groups,
                                                           later, errors, config.programs);
    detail::link(config, where, errors);

    LoadResult result;
    result.daemon = config.daemon;
    result.supervisord = sources.supervisord;
    result.errors = errors.take();
    result.warnings = errors.take_warnings();
    if (result.errors.empty()) result.config = std::move(config);
    return result;
}

LoadResult failure(const std::string& file, const char* what) noexcept {
    LoadResult r;
    try {
        r.errors.push_back(Error{SourceLoc{file, 0}, std::string("cannot load: ") + what});
    } catch (...) {
        // Not even an error message fits in memory; an empty, failed result
        // still says "no config".
    }
    return r;
}

}  // namespace

std::string Error::to_string() const {
    std::string out = loc.file;
    if (loc.line > 0) out += ":" + std::to_string(loc.line);
    if (!out.empty()) out += ": ";
    return out + message;
}

LoadResult load_string(std::string_view text, const std::string& name, const LoadOptions& options) {
    try {
        return build(text, name, options);
    } catch (const std::exception& e) {
        return failure(name, e.what());
    } catch (...) {
        return failure(name, "unexpected error");
    }
}

LoadResult load_file(const std::string& path, const LoadOptions& options) {
    try {
        std::string why;
        auto text = detail::read_config_file(path, why);
        if (!text) {
            LoadResult r;
            r.errors.push_back(Error{SourceLoc{path, 0}, "cannot read config file: " + why});
            return r;
        }
        return build(*text, path, options);
    } catch (const std::exception& e) {
        return failure(path, e.what());
    } catch (...) {
        return failure(path, "unexpected error");
    }
}

std::map<std::string, std::string> environment_map() {
    std::map<std::string, std::string> out;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        std::size_t eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return out;
}

}  // namespace vigil::config
