// Coroutine frames, recycled, for Step 4's small coroutines (async.hpp). A request awaits two of
// them (answer and send_all): fresh heap frames cost more than the rest of the request's own work
// (malloc, free). Freed frames wait in one list per frame size, for this thread, at most kKept
// each; the lists are freed when the thread ends. A program has a handful of frame sizes.
//
// Under AddressSanitizer the pool is off: a frame is plain new and delete, so a use of a freed
// frame is reported, not hidden behind live memory that the next coroutine is given.
#pragma once
#include <array>
#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define FIBS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBS_ASAN 1
#endif
#endif

namespace fibs::loop {

class Frames {
public:
#ifdef FIBS_ASAN
    static constexpr bool kPooled = false;
#else
    static constexpr bool kPooled = true;
#endif
    static constexpr std::size_t kKept = 256;  // per size: what one burst of requests frees

    static void* take(std::size_t size) {
        List* list = kPooled ? pool().find(size) : nullptr;
        if (list == nullptr || list->head == nullptr) return ::operator new(size);
        --list->count;
        Node* node = list->head;
        list->head = node->next;
        return node;
    }
    static void give(void* frame, std::size_t size) noexcept {
        List* list = kPooled ? pool().find(size) : nullptr;
        if (list == nullptr || list->count == kKept) return ::operator delete(frame);
        ++list->count;
        list->head = new (frame) Node{list->head};
    }
    static std::size_t kept(std::size_t size) {  // frames of this size waiting here (for the tests)
        List* list = kPooled ? pool().find(size) : nullptr;
        return list == nullptr ? 0 : list->count;
    }

private:
    struct Node {
        Node* next;
    };
    struct List {
        std::size_t size = 0;  // 0: unused
        Node* head = nullptr;
        std::size_t count = 0;
    };
    struct Pool {
        std::array<List, 8> lists{};
        List* find(std::size_t size) {
            for (List& l : lists) {
                if (l.size == 0) l.size = size;
                if (l.size == size) return &l;
            }
            return nullptr;  // more sizes than that: plain new and delete
        }
        ~Pool() {
            for (List& l : lists) {
                while (l.head != nullptr) ::operator delete(std::exchange(l.head, l.head->next));
                l.count = 0;
            }
        }
    };
    static Pool& pool() {
        thread_local Pool p;  // freed when the thread ends
        return p;
    }
};

}  // namespace fibs::loop
