// Bonus step: one thread per connection. The accept loop is Step 1's; each client gets its own
// thread running the same fib_handler, and the kernel's scheduler interleaves them (on every
// core: unlike the article's Python threads, C++ threads run fib in parallel).
#include <pthread.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <list>
#include <thread>

#include "handler.hpp"
#include "server.hpp"
#include "stop.hpp"

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kDefaultStackKib = 1024;  // ThreadSanitizer refuses smaller stacks
#else
constexpr std::size_t kDefaultStackKib = 256;
#endif

struct Options : fibs::ServerOptions {
    std::size_t stack_kib = kDefaultStackKib;
};

// A client's thread and socket, owned by the accept loop: the socket stays open until the thread
// is joined, so shutting it down to wake the thread is always safe. None is left behind.
struct ClientThread {
    fibs::Fd socket;
    std::atomic<bool> finished{false};
    std::thread thread;
};

// Joins the threads whose client has left; returns how many are still serving.
std::size_t reap(std::list<ClientThread>& clients) {
    for (auto it = clients.begin(); it != clients.end();) {
        if (it->finished.load()) {
            it->thread.join();
            it = clients.erase(it);
        } else {
            ++it;
        }
    }
    return clients.size();
}

void fib_server(const fibs::Fd& sock, const Options& opts) {
    std::list<ClientThread> clients;
    fibs::Acceptor acceptor(sock.get(), /*nonblocking=*/false);
    while (fibs::wait_readable(sock.get())) {
        std::size_t serving = reap(clients);  // first: it frees the sockets of clients that left
        std::string addr;
        fibs::Fd client = acceptor.accept(&addr);
        if (!client) continue;
        if (serving >= static_cast<std::size_t>(opts.max_clients)) {
            acceptor.refuse(std::move(client), "--max-clients reached");
            continue;
        }
        ClientThread& slot = clients.emplace_back();
        slot.socket = std::move(client);
        try {
            slot.thread = std::thread([&slot, &opts] {
                fibs::fib_handler(slot.socket.get(), opts, fibs::StopBy::shutdown);
                slot.finished = true;
            });
        } catch (const std::system_error& e) {  // out of threads or memory: this client only
            acceptor.refuse(std::move(slot.socket), std::string("cannot start a thread: ") + e.what());
            clients.pop_back();
            continue;
        }
        fibs::log_connection(opts, addr);
    }
    // Stopping: wake every handler blocked in recv() (it reads end of input), then join it.
    for (auto& c : clients) ::shutdown(c.socket.get(), SHUT_RDWR);
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
    fibs::add_server_options(app, opts);
    app.add_option("--stack-size", opts.stack_kib, "Stack of each client thread, KiB")
        ->check(CLI::Range(64, 65536))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    set_thread_stack(opts.stack_kib);
    fibs::Fd sock = fibs::start_server(opts);
    fib_server(sock, opts);
    fibs::log_always("Shutting down");
    return 0;
}
