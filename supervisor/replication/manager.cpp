#include "supervisor/replication/manager.hpp"

#include <chrono>
#include <fstream>
#include <sstream>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/atomic_file.hpp"
#include "config/values.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {
namespace {

using namespace std::chrono_literals;
using core::ReplAction;

constexpr auto kPollEvery = 500ms;

// Replication slot names are [a-z0-9_].
std::string slot_of(const std::string& name) {
    std::string out = "vigil_";
    for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    return out.substr(0, 63);
}

bool down(core::State s) {
    return s == core::State::stopped || s == core::State::exited || s == core::State::fatal ||
           s == core::State::backoff;
}

}  // namespace

ReplicationManager::ReplicationManager(boost::asio::io_context& io, Supervisor& sup)
    : io_(io), sup_(sup), state_path_(sup.config().daemon.state_dir + "/replication"), poll_timer_(io) {
    const auto& cfg = sup.config();
    for (const auto& p : cfg.programs) {
        if (p.replica_of.empty() || (p.kind != "postgres" && p.kind != "redis")) continue;
        std::shared_ptr<const replication::Store> store = replication::make_store(p.kind);
        const config::Program* primary = cfg.find(p.replica_of);
        core::PairPolicy policy;
        if (primary) policy.failover_after = primary->failover_after;
        policy.synchronous_capable = store->synchronous_capable();
        Pair* pair = pair_of(p.replica_of);
        if (!pair) {
            pairs_.push_back(std::make_unique<Pair>(
                Pair{core::ReplicationPair(p.replica_of, {p.name}, policy), p.replica_of, store, false, false, {}, nullptr}));
            pairs_.back()->deadline = std::make_unique<boost::asio::steady_timer>(io);
        } else {
            // More replicas of one primary: a new core with all of them.
            std::vector<std::string> replicas(pair->core.members().begin() + 1, pair->core.members().end());
            replicas.push_back(p.name);
            pair->core = core::ReplicationPair(p.replica_of, replicas, policy);
        }
    }
    if (pairs_.empty()) return;
    sup_.set_replication(this);
    load();
    actions_ = std::make_unique<replication::Worker>();
    polls_ = std::make_unique<replication::Worker>();
    observer_ = sup_.subscribe([this](const ProcessRunner& r, const core::Decision& d) {
        if (d.changed()) on_transition(r, d.from, d.to);
    });
    health_observer_ = sup_.subscribe_health(
        [this](const ProcessRunner& r, core::HealthStatus, core::HealthStatus to, const std::string&) {
            on_health(r, to);
        });
}

ReplicationManager::~ReplicationManager() {
    *alive_ = false;
    if (!pairs_.empty()) sup_.set_replication(nullptr);
    if (observer_) sup_.unsubscribe(observer_);
    if (health_observer_) sup_.unsubscribe(health_observer_);
}

void ReplicationManager::start() {
    for (auto& p : pairs_) {
        apply_env(*p);
        spdlog::info("replication: {} is the primary of {}{}", p->core.primary(), p->key,
                     p->paired ? "" : " (the pair is not initialised yet)");
    }
    if (!pairs_.empty()) poll();
}

ReplicationManager::Pair* ReplicationManager::pair_of(const std::string& name) {
    for (auto& p : pairs_)
        if (p->core.has(name)) return p.get();
    return nullptr;
}

const ReplicationManager::Pair* ReplicationManager::pair_of(const std::string& name) const {
    for (const auto& p : pairs_)
        if (p->core.has(name)) return p.get();
    return nullptr;
}

replication::Target ReplicationManager::target_of(const std::string& member) const {
    replication::Target t;
    const config::Program* p = sup_.config().find(member);
    if (!p) return t;
    std::string why;
    if (auto hp = config::parse_host_port(p->address, why)) {
        t.host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host == "::" ? "::1" : hp->host;
        t.port = hp->port;
    }
    t.user = p->db_user.empty() ? "postgres" : p->db_user;
    return t;
}

// The kind script reads the role at each start (config/kinds.cpp).
void ReplicationManager::apply_env(Pair& p) {
    const auto up = target_of(p.core.primary());
    for (const auto& name : p.core.members()) {
        ProcessRunner* r = sup_.find(name);
        if (!r) continue;
        std::vector<std::string> env{"VIGIL_NAME=" + name, "VIGIL_SLOT=" + slot_of(name)};
        if (name == p.core.primary()) {
            env.push_back(std::string("VIGIL_ROLE=") + (p.core.fenced(name) ? "fenced" : "primary"));
        } else {
            env.push_back("VIGIL_ROLE=replica");
            env.push_back("VIGIL_UPSTREAM_HOST=" + up.host);
            env.push_back("VIGIL_UPSTREAM_PORT=" + std::to_string(up.port));
        }
        if (p.paired) env.push_back("VIGIL_PAIRED=1");
        r->set_extra_env(std::move(env));
    }
}

void ReplicationManager::push_roles() {
    std::map<std::string, core::ProcessSet::ReplicaRole> roles;
    for (const auto& p : pairs_)
        for (const auto& name : p->core.members()) {
            const ProcessRunner* r = sup_.find(name);
            const bool running = r && r->state() == core::State::running;
            roles[name] = {running && p->core.takes_writes(name), p->core.serves_reads(name)};
        }
    sup_.set_replica_roles(std::move(roles));
}

void ReplicationManager::on_transition(const ProcessRunner& r, core::State from, core::State to) {
    Pair* p = pair_of(r.name());
    if (!p) return;
    const auto now = core::Clock::now();
    core::ReplActions out;
    if (to == core::State::running) {
        if (!p->paired && r.name() != p->core.primary()) {
            p->paired = true;  // a replica is up: from now on no member initialises itself
            save();
            apply_env(*p);
            spdlog::info("replication: {} is initialised: its members never initdb an empty primary again", p->key);
        }
        out = p->core.on_running(r.name(), now);
    } else if (down(to) && !down(from)) {
        out = p->core.on_exited(r.name(), from == core::State::starting && to != core::State::stopped, now);
        if (p->paired && !p->store->data_usable(r.program().data_dir)) {
            auto more = p->core.on_data_dir_lost(r.name(), now);
            out.insert(out.end(), more.begin(), more.end());
        }
    }
    // A fence is done once the member is down.
    if (down(to)) {
        for (auto it = p->fences.begin(); it != p->fences.end();) {
            if (it->second != r.name()) {
                ++it;
                continue;
            }
            auto more = p->core.on_done(it->first, true, "", now);
            out.insert(out.end(), more.begin(), more.end());
            it = p->fences.erase(it);
        }
    }
    run(*p, std::move(out));
}

void ReplicationManager::on_health(const ProcessRunner& r, core::HealthStatus to) {
    Pair* p = pair_of(r.name());
    if (!p || to == core::HealthStatus::starting) return;
    run(*p, p->core.on_health(r.name(), to == core::HealthStatus::healthy, core::Clock::now()));
}

void ReplicationManager::run(Pair& p, core::ReplActions actions) {
    for (const auto& a : actions) run_one(p, a);
    save();  // when the primary, a fence or `paired` changed
    arm_deadline(p);
    push_roles();
}

void ReplicationManager::run_one(Pair& p, const ReplAction& a) {
    const auto name = std::string(core::repl_action_name(a.type));
    if (a.type != ReplAction::Type::log && a.type != ReplAction::Type::retry)
        spdlog::info("replication: {} {}: {}", name, a.name, a.reason);
    switch (a.type) {
        case ReplAction::Type::log:
            if (a.warning) spdlog::warn("replication: {}", a.reason);
            else spdlog::info("replication: {}", a.reason);
            sup_.note(a.name, "replication", a.reason, a.warning);
            return;
        case ReplAction::Type::routes_changed: return;  // push_roles() follows every batch
        case ReplAction::Type::retry: {
            // Only a start the backoff holds back; never one an operator stopped.
            ProcessRunner* r = sup_.find(a.name);
            if (!r || r->state() != core::State::backoff) return;
            spdlog::info("replication: retry {}: {}", a.name, a.reason);
            sup_.request_start(*r);
            return;
        }
        case ReplAction::Type::fence: {
            save();
            apply_env(p);
            ProcessRunner* r = sup_.find(a.name);
            if (!r || down(r->state())) {
                if (r && r->state() != core::State::stopped) sup_.request_stop(*r);  // no restart from backoff
                const std::string key = p.key;
                boost::asio::post(io_, [this, alive = alive_, key, id = a.id] {
                    if (*alive) done(key, id, "");
                });
                return;
            }
            p.fences[a.id] = a.name;
            sup_.request_stop(*r);
            return;
        }
        case ReplAction::Type::unfence: {
            save();
            apply_env(p);
            // A start already under way runs the script with the role it had (fenced): start anew.
            if (ProcessRunner* r = sup_.find(a.name)) {
                if (down(r->state())) sup_.request_start(*r);
                else sup_.request_restart(*r);
            }
            return;
        }
        case ReplAction::Type::promote:
            return job(p, a.id, [store = p.store, t = target_of(a.name)] { return store->promote(t); });
        case ReplAction::Type::set_sync:
            return job(p, a.id, [store = p.store, t = target_of(a.name), standby = a.peer] {
                return store->set_sync(t, standby);
            });
        case ReplAction::Type::set_async:
            return job(p, a.id, [store = p.store, t = target_of(a.name)] { return store->set_async(t); });
        case ReplAction::Type::wait_replayed:
            return job(p, a.id, [store = p.store, t = target_of(a.name)] { return store->wait_replayed(t); });
        case ReplAction::Type::rejoin: {
            apply_env(p);
            save();
            if (ProcessRunner* r = sup_.find(a.name)) {
                if (down(r->state())) sup_.request_start(*r);
                else sup_.request_restart(*r);  // another replica: follow the new primary
            }
            return;
        }
    }
}

void ReplicationManager::job(Pair& p, std::uint64_t id, std::function<std::string()> work) {
    const std::string key = p.key;
    actions_->post([this, alive = alive_, key, id, work = std::move(work)] {
        std::string error = work();
        boost::asio::post(io_, [this, alive, key, id, error] {
            if (*alive) done(key, id, error);
        });
    });
}

void ReplicationManager::done(const std::string& key, std::uint64_t id, const std::string& error) {
    for (auto& p : pairs_) {
        if (p->key != key) continue;
        if (!error.empty()) spdlog::warn("replication: action {} of {} failed: {}", id, key, error);
        const std::string before = p->core.primary();
        auto out = p->core.on_done(id, error.empty(), error, core::Clock::now());
        if (p->core.primary() != before) {
            save();
            apply_env(*p);
        }
        run(*p, std::move(out));
        return;
    }
}

void ReplicationManager::arm_deadline(Pair& p) {
    auto at = p.core.next_deadline();
    if (!at) {
        p.deadline->cancel();
        return;
    }
    p.deadline->expires_at(*at);
    const std::string key = p.key;
    p.deadline->async_wait([this, alive = alive_, key](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        for (auto& q : pairs_)
            if (q->key == key) run(*q, q->core.tick(core::Clock::now()));
    });
}

// The primary's view of its replicas, every half second.
void ReplicationManager::poll() {
    for (auto& p : pairs_) {
        const ProcessRunner* r = sup_.find(p->core.primary());
        if (p->polling || !r || r->state() != core::State::running || p->core.busy()) continue;
        p->polling = true;
        replication::Member primary{p->core.primary(), target_of(p->core.primary())};
        std::vector<replication::Member> replicas;
        for (const auto& name : p->core.members())
            if (name != primary.name) replicas.push_back({name, target_of(name)});
        polls_->post([this, alive = alive_, key = p->key, store = p->store, primary, replicas] {
            std::map<std::string, core::ReplicaLag> lags;
            std::string error = store->poll(primary, replicas, lags);
            boost::asio::post(io_, [this, alive, key, error, lags = std::move(lags)] {
                if (*alive) poll_result(key, error, lags);
            });
        });
    }
    poll_timer_.expires_after(kPollEvery);
    poll_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (!ec && *alive) poll();
    });
}

void ReplicationManager::poll_result(const std::string& key, const std::string& error,
                                     const std::map<std::string, core::ReplicaLag>& lags) {
    for (auto& p : pairs_) {
        if (p->key != key) continue;
        p->polling = false;
        // No answer says nothing about the replicas: only a primary that
        // answers can say one is gone.
        if (!error.empty() || p->core.busy()) return;
        const auto now = core::Clock::now();
        core::ReplActions out;
        for (const auto& name : p->core.members()) {
            if (name == p->core.primary()) continue;
            auto it = lags.find(name);
            const core::ReplicaLag lag = it == lags.end() ? core::ReplicaLag{} : it->second;
            auto more = p->core.on_lag(name, lag, now);
            out.insert(out.end(), more.begin(), more.end());
        }
        run(*p, std::move(out));
        return;
    }
}

std::optional<ReplicationManager::View> ReplicationManager::view(const std::string& name) const {
    const Pair* p = pair_of(name);
    if (!p) return std::nullopt;
    View v;
    v.primary = p->core.primary();
    v.pair = p->key;
    v.role = name == v.primary ? (p->core.fenced(name) ? "fenced" : "primary") : "replica";
    v.synchronous = p->core.synchronous();
    v.asynchronous_only = p->core.asynchronous_only();
    if (const auto* l = p->core.lag(name)) v.lag = *l;
    v.operation = p->core.operation();
    return v;
}

std::string ReplicationManager::View::text() const {
    std::string t = role;
    if (role == "replica") {
        t += " of " + primary;
        if (lag) {
            t += lag->streaming ? (lag->sync ? ", sync" : ", async") : ", not streaming";
            t += ", lag " + std::to_string(lag->bytes) + " B " + std::to_string(lag->seconds.count() / 1000.0).substr(0, 5) + " s";
        }
    } else {
        if (asynchronous_only) t += synchronous ? ", asynchronous, replica in sync" : ", asynchronous, no replica in sync";
        else t += synchronous ? ", synchronous" : ", asynchronous";
    }
    if (!operation.empty()) t += "; " + operation;
    return t;
}

bool ReplicationManager::busy(const std::string& name) const {
    const Pair* p = pair_of(name);
    return p && p->core.busy();
}

std::string ReplicationManager::failover(const std::string& target, bool force) {
    Pair* p = pair_of(target);
    if (!p) return target + " is not part of a replicated pair (replica_of)";
    std::string error;
    auto out = p->core.failover(target, force, core::Clock::now(), error);
    if (error.empty()) run(*p, std::move(out));
    return error;
}

std::string ReplicationManager::switchover(const std::string& target) {
    Pair* p = pair_of(target);
    if (!p) return target + " is not part of a replicated pair (replica_of)";
    std::string error;
    auto out = p->core.switchover(target, core::Clock::now(), error);
    if (error.empty()) run(*p, std::move(out));
    return error;
}

std::string ReplicationManager::unfence(const std::string& name) {
    Pair* p = pair_of(name);
    if (!p) return name + " is not part of a replicated pair (replica_of)";
    // A rejoin that wrote standby.signal and did not get further left a
    // replica's data: started as the primary it would wait for WAL, read-only.
    struct stat st {};
    if (const config::Program* prog = sup_.config().find(name);
        prog && p->core.fenced(name) && ::stat((prog->data_dir + "/standby.signal").c_str(), &st) == 0)
        return name + "'s data directory is a replica's (standby.signal, from a rejoin that did not finish): it "
                      "would not start as a primary; start the pair's primary " + p->core.primary() + " instead";
    std::string error;
    auto out = p->core.unfence(name, core::Clock::now(), error);
    if (error.empty()) run(*p, std::move(out));
    return error;
}

// One line per pair: "pair KEY primary NAME paired 0|1 fenced A B …".
void ReplicationManager::save() {
    std::string text;
    for (const auto& p : pairs_) {
        text += "pair " + p->key + " primary " + p->core.primary() + " paired " + (p->paired ? "1" : "0") + " fenced";
        for (const auto& m : p->core.members())
            if (p->core.fenced(m)) text += " " + m;
        text += "\n";
    }
    if (text == saved_) return;
    saved_ = text;
    const std::string error = write_file_atomically(state_path_, text, Durability::synced);
    if (!error.empty()) spdlog::error("replication: cannot save {}: {}", state_path_, error);
}

void ReplicationManager::load() {
    std::ifstream in(state_path_);
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string pair_kw, key, primary_kw, primary, paired_kw, paired, fenced_kw;
        words >> pair_kw >> key >> primary_kw >> primary >> paired_kw >> paired >> fenced_kw;
        if (pair_kw != "pair" || primary_kw != "primary" || paired_kw != "paired") continue;
        std::set<std::string> fenced;
        for (std::string m; words >> m;) fenced.insert(m);
        for (auto& p : pairs_)
            if (p->key == key) {
                p->core.restore(primary, fenced);
                p->paired = paired == "1";
            }
    }
}

}  // namespace vigil::supervisor
