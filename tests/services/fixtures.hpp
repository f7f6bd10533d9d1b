// Real parts for the services suite: Debian's PostgreSQL 15 and Redis
// started in a temp dir on free ports, and the two service binaries as
// child processes. Every wait is on an event with a deadline (process exit
// through a pidfd, or a server answering), never a fixed sleep.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http_client.hpp"

namespace vigil::services::test {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::uint16_t free_port();

// A directory under /tmp removed with everything in it; owned by the
// `postgres` user when running as root, since PostgreSQL refuses root.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A child in its own process group, killed with the test if the test dies.
class Child {
public:
    struct Spec {
        std::vector<std::string> argv;
        std::vector<std::string> env;  // KEY=VALUE, on top of PATH and LANG
        std::filesystem::path log;     // stdout and stderr, appended
        bool as_postgres_user = false;
        int death_signal = 9;          // sent to the child if the test process dies
    };
    explicit Child(const Spec& spec);
    ~Child();  // SIGKILL and reap if still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Sends `signo` and waits for the exit; SIGKILL after `grace`.
    // Returns the wait status.
    int stop(int signo, std::chrono::milliseconds grace = 10s);
    // Waits up to `timeout` for the child to exit; its wait status, if it did.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running() const { return pid_ > 0; }
    int pid() const { return pid_; }

private:
    int pid_ = -1;
    int pidfd_ = -1;
};

// Runs a program to completion (initdb); throws with its output on failure.
void run_to_completion(const Child::Spec& spec, std::chrono::milliseconds timeout);

class Postgres {
public:
    Postgres();  // initdb and start
    void start();
    void stop();  // fast shutdown (SIGINT), as vigild stops it
    // SIGSTOP/SIGCONT to the postmaster and every backend (each backend is
    // in a session of its own, so the group is not enough): a server that
    // holds its connections open and never answers.
    void freeze() { signal_all(SIGSTOP); }
    void thaw() { signal_all(SIGCONT); }
    std::uint16_t port() const { return port_; }
    // libpq conninfo with hostaddr (no name resolution), as the services get it.
    std::string url(const std::string& db) const;
    void create_database(const std::string& name);
    // The single value of a one-row, one-column query.
    std::string query_value(const std::string& db, const std::string& sql) const;

private:
    void signal_all(int signo);

    TempDir dir_;
    std::uint16_t port_;
    std::optional<Child> server_;
};

class Redis {
public:
    Redis();
    void start();
    void stop();
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::uint16_t port() const { return port_; }
    // Runs a command with a fresh connection; throws if Redis does not answer.
    std::string command(const std::vector<std::string>& argv) const;

private:
    TempDir dir_;
    std::uint16_t port_;
    std::optional<Child> server_;
};

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                const Headers& headers = {});

// Writes raw bytes to 127.0.0.1:port, closes the sending side, and returns
// what comes back until the server closes the connection (or 5 s pass).
std::string raw_exchange(std::uint16_t port, const std::string& bytes);

class Service {
public:
    // Starts the binary with PORT/BIND set, and waits until /health answers
    // (with any status: a service whose database is down still answers).
    Service(const std::string& binary, std::vector<std::string> env);
    std::uint16_t port() const { return port_; }
    std::string log() const;
    int stop(int signo = 15) { return child_->stop(signo); }
    bool running() const { return child_ && child_->running(); }

private:
    TempDir dir_;
    std::uint16_t port_;
    std::optional<Child> child_;
};

// Both databases in one cluster, Redis, auth-service and payment-service
// (AUTH_URL pointing straight at auth-service), as one test's world.
struct Stack {
    Postgres pg;
    Redis redis;
    std::optional<Service> auth;
    std::optional<Service> payments;

    Stack();
    // Registers `user` and returns a fresh bearer token.
    std::string login(const std::string& user, const std::string& password = "correct horse battery");
    long long count_payments(const std::string& where = "true") const;
    HttpResult pay(const std::string& token, const std::string& key, const std::string& body);
};

}  // namespace vigil::services::test
