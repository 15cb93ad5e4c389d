// Bonus step: one thread per connection. The accept loop is Step 1's; each client gets its own
// thread running the same fib_handler (common/handler.cpp), and the kernel's scheduler interleaves
// them (on every core: unlike the article's Python threads, C++ threads run fib in parallel).
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <list>
#include <mutex>
#include <thread>

#include "acceptor.hpp"
#include "handler.hpp"
#include "server.hpp"
#include "stop.hpp"

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kDefaultStackKib = 1024;  // ThreadSanitizer refuses smaller stacks
#else
constexpr std::size_t kDefaultStackKib = 256;
#endif

// Unlike the loop's, this default is not what the descriptors allow: each client costs a thread
// (a stack and a kernel task), so memory and the scheduler run out first.
constexpr int kDefaultMaxClients = 1024;

struct Options : fibs::ServerOptions {
    std::size_t stack_kib = kDefaultStackKib;
};

// A client's thread, and its socket while the client is served. The thread closes the socket as it
// ends; the accept loop joins the thread later (reap), or shuts the socket down to wake the thread
// when the server stops. The mutex keeps those two apart: the loop never shuts down a descriptor
// the thread has closed (whose number the kernel may already have given to a new client).
struct ClientThread {
    std::mutex mu;
    fibs::Fd socket;  // empty once the client has left
    std::thread thread;

    void close() {
        std::lock_guard lock(mu);
        socket.reset();
    }
    bool finished() {
        std::lock_guard lock(mu);
        return !socket;
    }
    void wake() {  // a handler blocked in recv() reads end of input
        std::lock_guard lock(mu);
        if (socket) ::shutdown(socket.get(), SHUT_RDWR);
    }
};

// Joins the threads whose client has left; returns how many are still serving.
std::size_t reap(std::list<ClientThread>& clients) {
    for (auto it = clients.begin(); it != clients.end();) {
        if (it->finished()) {
            it->thread.join();
            it = clients.erase(it);
        } else {
            ++it;
        }
    }
    return clients.size();
}

// Ctrl-C must interrupt the accept() in fib_server, so only that thread may take the signal: a
// client thread starts with SIGINT and SIGTERM blocked (a new thread inherits its creator's mask).
class StopSignalsBlocked {
public:
    StopSignalsBlocked() {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        ::pthread_sigmask(SIG_BLOCK, &stop, &old_);
    }
    ~StopSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

private:
    sigset_t old_;
};

void fib_server(const fibs::Fd& sock, const Options& opts) {
    std::list<ClientThread> clients;
    fibs::Acceptor acceptor(sock.get(), /*nonblocking=*/false);
    while (!fibs::stop_requested()) {
        std::string addr;
        fibs::Fd client = acceptor.accept(&addr);  // blocks until a client comes
        if (!client) continue;  // EINTR (perhaps Ctrl-C), or refused
        std::size_t serving = reap(clients);
        if (serving >= static_cast<std::size_t>(opts.max_clients)) {
            acceptor.refuse(std::move(client), "--max-clients reached");
            continue;
        }
        ClientThread& slot = clients.emplace_back();
        slot.socket = std::move(client);
        try {
            StopSignalsBlocked for_the_new_thread;
            slot.thread = std::thread([&slot, &opts] {
                fibs::fib_handler(slot.socket, opts);
                slot.close();
            });
        } catch (const std::system_error& e) {  // out of threads or memory: this client only
            acceptor.refuse(std::move(slot.socket), std::string("cannot start a thread: ") + e.what());
            clients.pop_back();
            continue;
        }
        fibs::log_connection(opts, addr);
    }
    // Stopping: wake every handler still serving, then join every thread.
    for (auto& c : clients) c.wake();
    for (auto& c : clients) c.thread.join();
}

// std::thread takes the process-wide default attributes: a modest stack lets thousands of
// clients fit in memory (the default is 8 MiB of address space each).
void set_thread_stack(std::size_t kib) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kib * 1024);
    pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    CLI::App app{"Bonus step: one thread per connection"};
    fibs::add_server_options(app, opts, std::to_string(kDefaultMaxClients) +
                                            ", because each client costs a thread (a stack and a kernel task), "
                                            "not just a descriptor");
    app.add_option("--stack-size", opts.stack_kib, "Stack of each client thread, KiB")
        ->check(CLI::Range(64, 65536))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    set_thread_stack(opts.stack_kib);
    fibs::stop_on_signals();  // before the readiness line: a SIGTERM right after it is handled
    if (opts.max_clients == 0) opts.max_clients = kDefaultMaxClients;
    fibs::Fd sock = fibs::start_server(opts);
    fibs::log_listening(sock, "a thread per client, up to " + fibs::group_digits(opts.max_clients) + " clients");
    fib_server(sock, opts);
    fibs::log_always("Shutting down");
    return 0;
}
