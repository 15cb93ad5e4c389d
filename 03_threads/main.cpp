// Bonus step: one thread per connection. The accept loop is Step 1's; each client gets its own
// thread running the same fib_handler (common/handler.cpp), and the kernel's scheduler interleaves
// them (on every core: unlike the article's Python threads, C++ threads run fib in parallel).
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <new>
#include <thread>

#include "acceptor.hpp"
#include "handler.hpp"
#include "options.hpp"
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

// Ctrl-C must interrupt the accept() in fib_server, so only that thread may take the signal: a
// client thread starts with SIGINT, SIGTERM and SIGHUP blocked (a new thread inherits its
// creator's mask).
class StopSignalsBlocked {
public:
    StopSignalsBlocked() {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        ::pthread_sigmask(SIG_BLOCK, &stop, &old_);
    }
    ~StopSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

private:
    sigset_t old_;
};

// The clients being served, by their sockets. Each client's thread closes its own socket as it
// ends (under the mutex, so stop() never shuts down a descriptor whose number the kernel may
// already have given to a new client), and ends detached: nobody has to wait to join it.
class Clients {
public:
    explicit Clients(fibs::RefusalLog& refusals) : refusals_(refusals) {}
    std::size_t serving() {
        std::lock_guard lock(mu_);
        return sockets_.size();
    }
    // Serves `client` on a thread of its own. Gives the socket back when no thread can be started.
    fibs::Fd serve(fibs::Fd client, const Options& opts) {
        std::list<fibs::Fd>::iterator it;
        {
            std::lock_guard lock(mu_);
            it = sockets_.insert(sockets_.end(), std::move(client));
        }
        try {
            StopSignalsBlocked for_the_new_thread;
            std::thread([this, it, &opts] {
                try {
                    fibs::fib_handler(*it, opts);
                } catch (const std::bad_alloc&) {  // out of memory: this client ends, the server goes on
                    refusals_.note("out of memory");
                }
                leave(it);
            }).detach();
            return fibs::Fd();
        } catch (const std::exception&) {  // out of threads or memory (std::system_error, std::bad_alloc): this client only
            std::lock_guard lock(mu_);
            fibs::Fd back = std::move(*it);
            sockets_.erase(it);
            return back;
        }
    }
    // Each handler reads end of input (its reading side is shut), answers what it is computing,
    // and leaves; then stop() returns. One whose client does not take its replies would wait in
    // send() for ever: its socket is shut for writing too.
    void stop() {
        std::unique_lock lock(mu_);
        for (auto& s : sockets_) ::shutdown(s.get(), SHUT_RD);
        while (!left_.wait_for(lock, std::chrono::milliseconds(20), [this] { return sockets_.empty(); })) {
            for (auto& s : sockets_) {
                pollfd room{s.get(), POLLOUT, 0};
                if (::poll(&room, 1, 0) == 0) ::shutdown(s.get(), SHUT_RDWR);  // full: its send would wait
            }
        }
    }

private:
    void leave(std::list<fibs::Fd>::iterator it) {
        std::lock_guard lock(mu_);
        sockets_.erase(it);  // closes the socket
        left_.notify_all();
    }

    fibs::RefusalLog& refusals_;
    std::mutex mu_;
    std::condition_variable left_;
    std::list<fibs::Fd> sockets_;
};

void fib_server(const fibs::Fd& sock, const Options& opts) {
    fibs::RefusalLog refusals;  // "refusing clients: <why>", once for each why
    Clients clients(refusals);
    fibs::Acceptor acceptor(sock.get(), /*nonblocking=*/false, refusals);
    while (!fibs::stop_requested()) {
        try {
            std::string addr;
            fibs::Fd client = acceptor.accept(&addr);  // blocks until a client comes
            if (!client && errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // none spare
            if (!client) continue;  // EINTR (perhaps Ctrl-C), or refused
            if (clients.serving() >= static_cast<std::size_t>(opts.max_clients)) {
                acceptor.refuse(std::move(client), "--max-clients reached");
                continue;
            }
            fibs::log_connection(opts, addr);  // before the client's thread can print anything
            if (fibs::Fd back = clients.serve(std::move(client), opts)) {
                acceptor.refuse(std::move(back), "cannot start a thread");
            }
        } catch (const std::bad_alloc&) {  // no memory for its address or its place: that client is closed
            refusals.note("out of memory");
        }
    }
    clients.stop();
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
    fibs::log_listening(sock.get(), "a thread per client, up to " + fibs::group_digits(opts.max_clients) + " clients");
    fib_server(sock, opts);
    fibs::log_always("Shutting down");
    return 0;
}
