#include "fixtures.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "redis.hpp"

namespace vigil::services::test {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";
using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct PostgresUser {
    uid_t uid;
    gid_t gid;
};

// Only root has to switch: PostgreSQL refuses to run as root.
std::optional<PostgresUser> postgres_user() {
    if (geteuid() != 0) return std::nullopt;
    passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root, but there is no 'postgres' user to run PostgreSQL as");
    return PostgresUser{pw->pw_uid, pw->pw_gid};
}

// Waits until `log` (a starting server's output file) changes, or `timeout`.
void wait_for_output(const std::filesystem::path& log, std::chrono::milliseconds timeout) {
    const int in = ::inotify_init1(IN_CLOEXEC);
    ::inotify_add_watch(in, log.parent_path().c_str(), IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE);
    pollfd p{in, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(timeout.count()));
    ::close(in);
}

// Retries `attempt` until it returns true or the deadline passes, re-trying
// whenever the server writes to `log` (its "listening"/"ready" line is
// what makes the next attempt succeed); at least once a second regardless.
template <class F>
bool poll_until(std::chrono::milliseconds timeout, const std::filesystem::path& log, F attempt) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        if (attempt()) return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        wait_for_output(log, std::min(left, std::chrono::milliseconds(1000)));
    }
}

}  // namespace

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

TempDir::TempDir() {
    char templ[] = "/tmp/vigil-services-XXXXXX";
    if (!::mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
    if (auto user = postgres_user()) {
        if (::chown(templ, user->uid, user->gid) != 0) throw std::runtime_error("chown of the temp dir failed");
    }
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

Child::Child(const Spec& spec) {
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls.
    std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    std::vector<char*> argv, envp;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    auto user = spec.as_postgres_user ? postgres_user() : std::nullopt;
    int log = ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) throw std::runtime_error("cannot open " + spec.log.string());
    const pid_t parent = ::getpid();
    const int death_signal = spec.death_signal;

    pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(null, 0);
        ::dup2(log, 1);
        ::dup2(log, 2);
        if (::chdir("/tmp") != 0) ::_exit(126);
        if (user && (::setgroups(0, nullptr) != 0 || ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0)) {
            ::_exit(126);
        }
        // After setuid, which clears the parent-death signal.
        ::prctl(PR_SET_PDEATHSIG, death_signal);
        if (::getppid() != parent) ::_exit(125);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(log);
    ::close(null);
    if (pid < 0) throw std::runtime_error("fork failed");
    pid_ = pid;
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd_ < 0) throw std::runtime_error("pidfd_open failed");
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(-pid_, SIGKILL);
        wait_exit(10s);
    }
    if (pidfd_ >= 0) ::close(pidfd_);
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    pollfd pfd{pidfd_, POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return std::nullopt;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
}

int Child::stop(int signo, std::chrono::milliseconds grace) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, signo);
    if (auto status = wait_exit(grace)) return *status;
    ::kill(-pid_, SIGKILL);
    return wait_exit(10s).value_or(-1);
}

void run_to_completion(const Child::Spec& spec, std::chrono::milliseconds timeout) {
    Child child(spec);
    auto status = child.wait_exit(timeout);
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        throw std::runtime_error(spec.argv[0] + " failed:\n" + read_file(spec.log));
    }
}

Postgres::Postgres() : port_(free_port()) {
    run_to_completion({{std::string(kPgBin) + "/initdb", "-D", (dir_.path() / "data").string(), "-U", "postgres",
                        "--auth=trust", "--no-sync", "--locale=C", "-E", "UTF8"},
                       {},
                       dir_.path() / "initdb.log",
                       true},
                      120s);
    start();
}

void Postgres::start() {
    // fsync off: these tests are about the services' behaviour, not
    // PostgreSQL's durability, and the box is shared.
    server_.emplace(Child::Spec{{std::string(kPgBin) + "/postgres", "-D", (dir_.path() / "data").string(), "-p",
                                 std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c",
                                 "unix_socket_directories=" + dir_.path().string(), "-c", "fsync=off", "-c",
                                 "shared_buffers=16MB", "-c", "max_connections=50"},
                                {},
                                dir_.path() / "postgres.log",
                                true,
                                SIGQUIT});
    std::string conninfo = url("postgres") + " connect_timeout=2";
    bool up = poll_until(60s, dir_.path() / "postgres.log", [&] {
        if (auto status = server_->wait_exit(0ms)) {
            throw std::runtime_error("postgres exited during start:\n" + read_file(dir_.path() / "postgres.log"));
        }
        return PQping(conninfo.c_str()) == PQPING_OK;
    });
    if (!up) throw std::runtime_error("postgres did not accept connections within 60 s");
}

void Postgres::signal_all(int signo) {
    const int postmaster = server_->pid();
    ::kill(postmaster, signo);  // first, so that it forks nothing new meanwhile
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces.
        std::string stat = read_file(entry.path() / "stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 1));
        std::string state;
        int ppid = 0;
        rest >> state >> ppid;
        if (ppid == postmaster) ::kill(std::stoi(name), signo);
    }
}

void Postgres::stop() {
    server_->stop(SIGINT, 30s);
    server_.reset();
}

std::string Postgres::url(const std::string& db) const {
    return "hostaddr=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + db;
}

std::string Postgres::query_value(const std::string& db, const std::string& sql) const {
    PGconn* conn = PQconnectdb(url(db).c_str());
    std::string error;
    std::string value;
    if (PQstatus(conn) != CONNECTION_OK) {
        error = PQerrorMessage(conn);
    } else {
        PGresult* r = PQexec(conn, sql.c_str());
        auto status = PQresultStatus(r);
        if (status == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1) {
            value = PQgetvalue(r, 0, 0);
        } else if (status != PGRES_COMMAND_OK) {
            error = std::string("query '") + sql + "': " + PQresultErrorMessage(r);
        }
        PQclear(r);
    }
    PQfinish(conn);
    if (!error.empty()) throw std::runtime_error(error);
    return value;
}

void Postgres::create_database(const std::string& name) { query_value("postgres", "CREATE DATABASE " + name); }

Redis::Redis() : port_(free_port()) { start(); }

void Redis::start() {
    server_.emplace(Child::Spec{{"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", dir_.path().string()},
                                {},
                                dir_.path() / "redis.log"});
    RedisClient probe(url(), 200ms, 0ms);
    if (!poll_until(20s, dir_.path() / "redis.log", [&] { return probe.ping(); })) throw std::runtime_error("redis did not answer PING in 20 s");
}

void Redis::stop() {
    server_->stop(SIGTERM);
    server_.reset();
}

std::string Redis::command(const std::vector<std::string>& argv) const {
    RedisClient client(url(), 1000ms, 0ms);
    auto reply = client.command(argv);
    if (!reply) throw std::runtime_error("redis did not answer");
    return reply->type == RedisReply::Type::integer ? std::to_string(reply->integer) : reply->text;
}

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                const Headers& headers) {
    Url url{false, "127.0.0.1", port, ""};
    ClientOptions options;
    options.timeout = 10s;
    return http_request(method, url, target, headers, body, options);
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
        ::shutdown(fd, SHUT_WR);  // the server sees end of input: no waiting on its idle timeout
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

Service::Service(const std::string& binary, std::vector<std::string> env) : port_(free_port()) {
    env.push_back("PORT=" + std::to_string(port_));
    env.push_back("BIND=127.0.0.1");
    child_.emplace(Child::Spec{{binary}, env, dir_.path() / "service.log"});
    bool up = poll_until(30s, dir_.path() / "service.log", [&] {
        if (auto status = child_->wait_exit(0ms)) {
            throw std::runtime_error(binary + " exited during start:\n" + log());
        }
        return http(port_, "GET", "/health").ok();
    });
    if (!up) throw std::runtime_error(binary + " did not answer /health within 30 s:\n" + log());
}

std::string Service::log() const { return read_file(dir_.path() / "service.log"); }

Stack::Stack() {
    pg.create_database("auth_db");
    pg.create_database("payments_db");
    auth.emplace(AUTH_SERVICE_PATH, std::vector<std::string>{"DATABASE_URL=" + pg.url("auth_db"),
                                                             "SERVICE_NAME=auth-service", "PBKDF2_ITERATIONS=1000"});
    payments.emplace(PAYMENT_SERVICE_PATH,
                     std::vector<std::string>{"DATABASE_URL=" + pg.url("payments_db"), "REDIS_URL=" + redis.url(),
                                              "AUTH_URL=http://127.0.0.1:" + std::to_string(auth->port()) + "/auth",
                                              "SERVICE_NAME=payment-service"});
}

std::string Stack::login(const std::string& user, const std::string& password) {
    std::string creds = R"({"username":")" + user + R"(","password":")" + password + R"("})";
    auto reg = http(auth->port(), "POST", "/auth/register", creds);
    if (reg.status != 201) throw std::runtime_error("register failed: " + std::to_string(reg.status) + " " + reg.body);
    auto res = http(auth->port(), "POST", "/auth/login", creds);
    auto pos = res.body.find("\"token\":\"");
    if (res.status != 200 || pos == std::string::npos) throw std::runtime_error("login failed: " + res.body);
    return res.body.substr(pos + 9, 64);
}

long long Stack::count_payments(const std::string& where) const {
    return std::stoll(pg.query_value("payments_db", "SELECT count(*) FROM payments WHERE " + where));
}

HttpResult Stack::pay(const std::string& token, const std::string& key, const std::string& body) {
    Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    return http(payments->port(), "POST", "/payments", body, headers);
}

}  // namespace vigil::services::test
