/*
 * Settle's native order-matching engine (a CPython extension).
 *
 * Deterministic by construction: integers only, books in creation order,
 * price levels in sorted arrays, orders in per-level FIFO lists. No hash
 * table is ever iterated and no pointer or slot number reaches an output:
 * events and the serialisation name orders by their engine-assigned ids.
 * vm/matching/reference.py is the same engine in Python; both produce the
 * same event bytes and the same serialisation (checked by hypothesis).
 *
 * Every mutation goes through five primitives (add an order at a level's
 * tail, reduce an order, remove an order, insert a level, delete a level),
 * each of which appends its exact inverse to an undo log when journaling is
 * on. A checkpoint is a position in the log; a rollback undoes back to it.
 * The EVM state ties checkpoints to its snapshot/revert/commit.
 *
 * Formats (all big-endian) are documented in docs/matching.md.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NIL UINT32_MAX
#define MAX_PRICE ((1ULL << 40) - 1)
#define MAX_QTY ((1ULL << 40) - 1)
#define MAX_BOOKS 65535u
#define MAX_LIVE_ORDERS 1000000u

enum { BUY = 0, SELL = 1 };
enum { T_LIMIT = 0, T_MARKET = 1, T_IOC = 2, T_FOK = 3, T_POST_ONLY = 4 };
enum { OP_PLACE = 1, OP_CANCEL = 2, OP_AMEND = 3 };
enum { STP_NONE = 0, STP_CANCEL_TAKER = 1, STP_CANCEL_MAKER = 2, STP_CANCEL_BOTH = 3 };
enum { EV_ACCEPT = 1, EV_FILL = 2, EV_REST = 3, EV_CANCEL = 4, EV_REJECT = 5, EV_AMEND = 6 };
enum { R_USER = 1, R_UNFILLED = 2, R_STP = 3, R_FOK = 4, R_AUCTION_END = 5, R_CAPACITY = 6, R_POST_ONLY = 7,
       R_UNKNOWN_ORDER = 8 };
enum { U_ADD = 1, U_REDUCE, U_REMOVE, U_LVL_INS, U_LVL_DEL, U_NEXTID, U_BOOK_NEW };

typedef struct {
    uint64_t id, owner, price, qty;
    uint32_t prev, next, book;
    uint8_t side;
} Order;

typedef struct {
    uint64_t price, total;
    uint32_t head, tail, count;
} Level;

typedef struct {
    uint8_t operator_[20];
    uint8_t stp, auction;
    Level *lv[2]; /* bids ascending, asks descending: the best level is always last */
    uint32_t n[2], cap[2];
} Book;

typedef struct {
    uint8_t kind, side, appended;
    uint32_t book, index;
    uint64_t value;
    Order order;
} Undo;

typedef struct {
    PyObject_HEAD
    Book *books;
    uint32_t nbooks, capbooks;
    Order *slots;
    uint32_t nslots, capslots;
    uint32_t *freelist;
    uint32_t nfree, capfree;
    uint32_t *id_slot; /* order id -> slot + 1, 0 when not live */
    uint64_t capids;
    uint64_t next_id;
    uint32_t live;
    Undo *log;
    size_t nlog, caplog;
    int journal;
    /* the call in progress: events and work counters */
    uint8_t *ev;
    size_t nev, capev;
    uint64_t fills, levels, budget;
    int oom, over;
} Engine;

static PyObject *MatchingError;

/* ---------- small helpers ---------- */

static int grow(void **p, size_t elem, size_t need, size_t *cap) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = PyMem_Realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

#define GROW(ptr, need, capfield) do { size_t c_ = (capfield); \
    if (grow((void **)&(ptr), sizeof(*(ptr)), (need), &c_) < 0) { e->oom = 1; return -1; } (capfield) = c_; } while (0)

static inline void put64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int emit(Engine *e, int kind, int flag, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                uint64_t price, uint64_t qty) {
    size_t cap = e->capev;
    if (grow((void **)&e->ev, 1, e->nev + 64, &cap) < 0) { e->oom = 1; return -1; }
    e->capev = cap;
    uint8_t *p = e->ev + e->nev;
    memset(p, 0, 64);
    p[0] = (uint8_t)kind; p[1] = (uint8_t)flag;
    put64(p + 8, a); put64(p + 16, b); put64(p + 24, c);
    put64(p + 40, d); put64(p + 48, price); put64(p + 56, qty);
    e->nev += 64;
    return 0;
}

static int log_push(Engine *e, Undo *u) {
    if (!e->journal) return 0;
    size_t cap = e->caplog;
    if (grow((void **)&e->log, sizeof(Undo), e->nlog + 1, &cap) < 0) { e->oom = 1; return -1; }
    e->caplog = cap;
    e->log[e->nlog++] = *u;
    return 0;
}

/* better(side, a, b): a is a better price than b for resting orders on side */
static inline int level_index(Book *b, int side, uint64_t price, int *found) {
    /* levels sorted: bids ascending, asks descending. Binary search for price. */
    Level *lv = b->lv[side];
    uint32_t lo = 0, hi = b->n[side];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t p = lv[mid].price;
        int before = side == BUY ? p < price : p > price;
        if (before) lo = mid + 1; else hi = mid;
    }
    *found = lo < b->n[side] && lv[lo].price == price;
    return (int)lo;
}

/* ---------- the five primitives (each journaled) ---------- */

static int lvl_insert(Engine *e, uint32_t bi, int side, uint32_t idx, uint64_t price) {
    Book *b = &e->books[bi];
    size_t cap = b->cap[side];
    if (grow((void **)&b->lv[side], sizeof(Level), b->n[side] + 1, &cap) < 0) { e->oom = 1; return -1; }
    b->cap[side] = (uint32_t)cap;
    Level *lv = b->lv[side];
    memmove(lv + idx + 1, lv + idx, (b->n[side] - idx) * sizeof(Level));
    lv[idx].price = price; lv[idx].total = 0; lv[idx].head = lv[idx].tail = NIL; lv[idx].count = 0;
    b->n[side]++;
    Undo u = {0}; u.kind = U_LVL_INS; u.book = bi; u.side = (uint8_t)side; u.index = idx;
    return log_push(e, &u);
}

static int lvl_delete(Engine *e, uint32_t bi, int side, uint32_t idx) {
    Book *b = &e->books[bi];
    Level *lv = b->lv[side];
    uint64_t price = lv[idx].price;
    memmove(lv + idx, lv + idx + 1, (b->n[side] - idx - 1) * sizeof(Level));
    b->n[side]--;
    Undo u = {0}; u.kind = U_LVL_DEL; u.book = bi; u.side = (uint8_t)side; u.index = idx; u.value = price;
    return log_push(e, &u);
}

/* Append an order (id, owner, side, price, qty) at the tail of its level, creating the level. */
static int add_order(Engine *e, uint32_t bi, int side, uint64_t id, uint64_t owner, uint64_t price, uint64_t qty) {
    Book *b = &e->books[bi];
    int found;
    int idx = level_index(b, side, price, &found);
    if (!found && lvl_insert(e, bi, side, (uint32_t)idx, price) < 0) return -1;
    uint32_t slot;
    uint8_t appended;
    if (e->nfree) { slot = e->freelist[--e->nfree]; appended = 0; }
    else {
        size_t cap = e->capslots;
        if (grow((void **)&e->slots, sizeof(Order), e->nslots + 1, &cap) < 0) { e->oom = 1; return -1; }
        e->capslots = (uint32_t)cap;
        slot = e->nslots++; appended = 1;
    }
    if (id >= e->capids) {
        size_t cap = (size_t)e->capids;
        size_t old = cap;
        if (grow((void **)&e->id_slot, sizeof(uint32_t), (size_t)id + 1, &cap) < 0) { e->oom = 1; return -1; }
        memset(e->id_slot + old, 0, (cap - old) * sizeof(uint32_t));
        e->capids = cap;
    }
    Level *l = &b->lv[side][idx];
    Order *o = &e->slots[slot];
    o->id = id; o->owner = owner; o->price = price; o->qty = qty; o->book = bi; o->side = (uint8_t)side;
    o->prev = l->tail; o->next = NIL;
    if (l->tail != NIL) e->slots[l->tail].next = slot; else l->head = slot;
    l->tail = slot;
    l->total += qty; l->count++;
    e->id_slot[id] = slot + 1;
    e->live++;
    Undo u = {0}; u.kind = U_ADD; u.index = slot; u.appended = appended;
    return log_push(e, &u);
}

static int reduce_order(Engine *e, uint32_t slot, uint64_t by, Level *l) {
    e->slots[slot].qty -= by;
    l->total -= by;
    Undo u = {0}; u.kind = U_REDUCE; u.index = slot; u.value = by;
    return log_push(e, &u);
}

/* Unlink and free an order; deletes its level when it empties. */
static int remove_order(Engine *e, uint32_t slot) {
    Order *o = &e->slots[slot];
    Book *b = &e->books[o->book];
    int found;
    int idx = level_index(b, o->side, o->price, &found);
    Level *l = &b->lv[o->side][idx];
    Undo u = {0}; u.kind = U_REMOVE; u.index = slot; u.order = *o;
    if (o->prev != NIL) e->slots[o->prev].next = o->next; else l->head = o->next;
    if (o->next != NIL) e->slots[o->next].prev = o->prev; else l->tail = o->prev;
    l->total -= o->qty; l->count--;
    e->id_slot[o->id] = 0;
    e->live--;
    size_t cap = e->capfree;
    if (grow((void **)&e->freelist, sizeof(uint32_t), e->nfree + 1, &cap) < 0) { e->oom = 1; return -1; }
    e->capfree = (uint32_t)cap;
    e->freelist[e->nfree++] = slot;
    if (log_push(e, &u) < 0) return -1;
    if (l->count == 0) return lvl_delete(e, o->book, o->side, (uint32_t)idx);
    return 0;
}

static int set_next_id(Engine *e, uint64_t v) {
    Undo u = {0}; u.kind = U_NEXTID; u.value = e->next_id;
    e->next_id = v;
    return log_push(e, &u);
}

static void undo_one(Engine *e, Undo *u) {
    switch (u->kind) {
    case U_ADD: {
        uint32_t slot = u->index;
        Order *o = &e->slots[slot];
        Book *b = &e->books[o->book];
        int found;
        int idx = level_index(b, o->side, o->price, &found);
        Level *l = &b->lv[o->side][idx];
        /* it is the level's tail again */
        l->tail = o->prev;
        if (o->prev != NIL) e->slots[o->prev].next = NIL; else l->head = NIL;
        l->total -= o->qty; l->count--;
        e->id_slot[o->id] = 0;
        e->live--;
        if (u->appended) e->nslots--; else e->freelist[e->nfree++] = slot;
        break;
    }
    case U_REDUCE: {
        Order *o = &e->slots[u->index];
        Book *b = &e->books[o->book];
        int found;
        int idx = level_index(b, o->side, o->price, &found);
        o->qty += u->value;
        b->lv[o->side][idx].total += u->value;
        break;
    }
    case U_REMOVE: {
        uint32_t slot = u->index;
        e->nfree--; /* the slot is on top of the free list again */
        Order *o = &e->slots[slot];
        *o = u->order;
        Book *b = &e->books[o->book];
        int found;
        int idx = level_index(b, o->side, o->price, &found);
        Level *l = &b->lv[o->side][idx];
        if (o->prev != NIL) e->slots[o->prev].next = slot; else l->head = slot;
        if (o->next != NIL) e->slots[o->next].prev = slot; else l->tail = slot;
        l->total += o->qty; l->count++;
        e->id_slot[o->id] = slot + 1;
        e->live++;
        break;
    }
    case U_LVL_INS: {
        Book *b = &e->books[u->book];
        Level *lv = b->lv[u->side];
        memmove(lv + u->index, lv + u->index + 1, (b->n[u->side] - u->index - 1) * sizeof(Level));
        b->n[u->side]--;
        break;
    }
    case U_LVL_DEL: {
        Book *b = &e->books[u->book];
        Level *lv = b->lv[u->side]; /* capacity is never released, so there is room */
        memmove(lv + u->index + 1, lv + u->index, (b->n[u->side] - u->index) * sizeof(Level));
        lv[u->index].price = u->value; lv[u->index].total = 0;
        lv[u->index].head = lv[u->index].tail = NIL; lv[u->index].count = 0;
        b->n[u->side]++;
        break;
    }
    case U_NEXTID:
        e->next_id = u->value;
        break;
    case U_BOOK_NEW: {
        Book *b = &e->books[--e->nbooks];
        PyMem_Free(b->lv[0]); PyMem_Free(b->lv[1]);
        break;
    }
    }
}

static void rollback_to(Engine *e, size_t pos) {
    while (e->nlog > pos) undo_one(e, &e->log[--e->nlog]);
}

/* ---------- matching ---------- */

static inline int crosses(int taker_side, uint64_t limit, uint64_t level_price) {
    return taker_side == BUY ? level_price <= limit : level_price >= limit;
}

/* Emit a fill between a taker and a maker, buy side first. */
static int emit_fill(Engine *e, int taker_side, uint64_t taker_id, uint64_t taker_owner, Order *m,
                     uint64_t price, uint64_t qty, int flag) {
    if (taker_side == BUY)
        return emit(e, EV_FILL, flag, taker_id, m->id, taker_owner, m->owner, price, qty);
    return emit(e, EV_FILL, flag, m->id, taker_id, m->owner, taker_owner, price, qty);
}

/* Work units (fills plus levels touched and orders walked) past the call's budget stop it. */
#define SPEND(e, field) do { (e)->field++; if ((e)->fills + (e)->levels > (e)->budget) { (e)->over = 1; return -1; } } while (0)

/* Fill-or-kill pre-check: can `qty` be filled at prices within `limit` without an STP stop? 1 yes, 0 no,
   -1 over budget. Every order looked at is a work unit. */
static int fok_fillable(Engine *e, Book *b, int side, uint64_t owner, uint64_t limit, uint64_t qty) {
    int opp = 1 - side;
    uint64_t sum = 0;
    for (int64_t i = (int64_t)b->n[opp] - 1; i >= 0; i--) {
        Level *l = &b->lv[opp][i];
        if (!crosses(side, limit, l->price)) break;
        for (uint32_t s = l->head; s != NIL; s = e->slots[s].next) {
            Order *m = &e->slots[s];
            SPEND(e, levels);
            if (b->stp != STP_NONE && m->owner == owner) {
                if (b->stp == STP_CANCEL_MAKER) continue;
                return 0;
            }
            sum += m->qty;
            if (sum >= qty) return 1;
        }
    }
    return 0;
}

/* Match a taker against the opposite side; returns remaining qty via *qty. -1 on OOM. stopped: STP stop. */
static int match(Engine *e, uint32_t bi, int side, uint64_t id, uint64_t owner, uint64_t limit,
                 uint64_t *qty, int *stopped) {
    Book *b = &e->books[bi];
    int opp = 1 - side;
    *stopped = 0;
    while (*qty > 0 && b->n[opp] > 0) {
        Level *l = &b->lv[opp][b->n[opp] - 1];
        if (!crosses(side, limit, l->price)) break;
        SPEND(e, levels);
        uint64_t price = l->price;
        while (*qty > 0) {
            l = &b->lv[opp][b->n[opp] - 1]; /* the level array may not move, but re-read after removals */
            uint32_t s = l->head;
            Order *m = &e->slots[s];
            int last = m->next == NIL;
            if (b->stp != STP_NONE && m->owner == owner) {
                if (b->stp == STP_CANCEL_TAKER) { *stopped = 1; return 0; }
                SPEND(e, levels);
                if (emit(e, EV_CANCEL, opp, m->id, R_STP, m->owner, 0, m->price, m->qty) < 0) return -1;
                if (remove_order(e, s) < 0) return -1;
                if (b->stp == STP_CANCEL_BOTH) { *stopped = 1; return 0; }
                if (last) break;
                continue;
            }
            uint64_t f = m->qty < *qty ? m->qty : *qty;
            SPEND(e, fills);
            if (emit_fill(e, side, id, owner, m, price, f, side) < 0) return -1;
            *qty -= f;
            if (f == m->qty) {
                if (remove_order(e, s) < 0) return -1;
                if (last) break;
            } else if (reduce_order(e, s, f, l) < 0) return -1;
        }
    }
    return 0;
}

/* An incoming order (new or re-priced) after its ACCEPT/AMEND event. */
static int process(Engine *e, uint32_t bi, int side, int type, uint64_t id, uint64_t owner, uint64_t price,
                   uint64_t qty) {
    Book *b = &e->books[bi];
    int opp = 1 - side;
    if (b->auction) {
        /* call-auction books collect orders; run_auction matches them */
        if (e->live >= MAX_LIVE_ORDERS) return emit(e, EV_CANCEL, side, id, R_CAPACITY, owner, 0, price, qty);
        if (add_order(e, bi, side, id, owner, price, qty) < 0) return -1;
        return emit(e, EV_REST, side, id, 0, owner, 0, price, qty);
    }
    if (type == T_POST_ONLY) {
        if (b->n[opp] > 0 && crosses(side, price, b->lv[opp][b->n[opp] - 1].price))
            return emit(e, EV_CANCEL, side, id, R_POST_ONLY, owner, 0, price, qty);
    }
    uint64_t limit = type == T_MARKET ? (side == BUY ? UINT64_MAX : 0) : price;
    if (type == T_FOK) {
        int fillable = fok_fillable(e, b, side, owner, limit, qty);
        if (fillable < 0) return -1;
        if (!fillable) return emit(e, EV_CANCEL, side, id, R_FOK, owner, 0, price, qty);
    }
    int stopped;
    if (match(e, bi, side, id, owner, limit, &qty, &stopped) < 0) return -1;
    if (qty == 0) return 0;
    if (stopped) return emit(e, EV_CANCEL, side, id, R_STP, owner, 0, price, qty);
    if (type == T_MARKET || type == T_IOC || type == T_FOK)
        return emit(e, EV_CANCEL, side, id, R_UNFILLED, owner, 0, price, qty);
    if (e->live >= MAX_LIVE_ORDERS) return emit(e, EV_CANCEL, side, id, R_CAPACITY, owner, 0, price, qty);
    if (add_order(e, bi, side, id, owner, price, qty) < 0) return -1;
    return emit(e, EV_REST, side, id, 0, owner, 0, price, qty);
}

static Order *find(Engine *e, uint32_t bi, uint64_t id) {
    if (id == 0 || id >= e->capids) return NULL;
    uint32_t s = e->id_slot[id];
    if (!s) return NULL;
    Order *o = &e->slots[s - 1];
    return o->book == bi ? o : NULL;
}

/* One 32-byte command: [op][side][type][5 zero bytes][a u64][price u64][qty u64]. 0 ok, -1 OOM, 1 bad input. */
static int command(Engine *e, uint32_t bi, const uint8_t *w, Py_ssize_t index, const char **why) {
    int op = w[0], side = w[1], type = w[2];
    for (int i = 3; i < 8; i++) if (w[i]) { *why = "reserved bytes must be zero"; return 1; }
    uint64_t a = get64(w + 8), price = get64(w + 16), qty = get64(w + 24);
    Book *b = &e->books[bi];
    (void)index;
    if (op == OP_PLACE) {
        if (side > 1) { *why = "side must be 0 (buy) or 1 (sell)"; return 1; }
        if (type > T_POST_ONLY) { *why = "unknown order type"; return 1; }
        if (b->auction && type != T_LIMIT) { *why = "auction books take limit orders only"; return 1; }
        if (type == T_MARKET ? price != 0 : (price == 0 || price > MAX_PRICE)) {
            *why = "price out of range"; return 1;
        }
        if (qty == 0 || qty > MAX_QTY) { *why = "quantity out of range"; return 1; }
        uint64_t id = e->next_id;
        if (set_next_id(e, id + 1) < 0) return -1;
        if (emit(e, EV_ACCEPT, side, id, 0, a, 0, price, qty) < 0) return -1;
        return process(e, bi, side, type, id, a, price, qty) < 0 ? -1 : 0;
    }
    if (op == OP_CANCEL) {
        if (side || type || price || qty) { *why = "cancel takes an order id only"; return 1; }
        Order *o = find(e, bi, a);
        if (!o) return emit(e, EV_REJECT, 0, a, R_UNKNOWN_ORDER, 0, 0, 0, 0) < 0 ? -1 : 0;
        if (emit(e, EV_CANCEL, o->side, o->id, R_USER, o->owner, 0, o->price, o->qty) < 0) return -1;
        return remove_order(e, (uint32_t)(o - e->slots)) < 0 ? -1 : 0;
    }
    if (op == OP_AMEND) {
        if (side || type) { *why = "amend takes an order id, a price and a quantity"; return 1; }
        if (price == 0 || price > MAX_PRICE) { *why = "price out of range"; return 1; }
        if (qty > MAX_QTY) { *why = "quantity out of range"; return 1; }
        Order *o = find(e, bi, a);
        if (!o) return emit(e, EV_REJECT, 0, a, R_UNKNOWN_ORDER, 0, 0, price, qty) < 0 ? -1 : 0;
        uint32_t slot = (uint32_t)(o - e->slots);
        if (qty == 0) {
            if (emit(e, EV_CANCEL, o->side, o->id, R_USER, o->owner, 0, o->price, o->qty) < 0) return -1;
            return remove_order(e, slot) < 0 ? -1 : 0;
        }
        if (price == o->price && qty <= o->qty) {
            /* a reduce keeps time priority */
            if (emit(e, EV_AMEND, o->side, o->id, 1, o->owner, 0, price, qty) < 0) return -1;
            if (qty == o->qty) return 0;
            int found;
            int idx = level_index(b, o->side, o->price, &found);
            return reduce_order(e, slot, o->qty - qty, &b->lv[o->side][idx]) < 0 ? -1 : 0;
        }
        /* an increase or a new price loses priority: out, and in again as a limit order */
        uint64_t id = o->id, owner = o->owner;
        int oside = o->side;
        if (emit(e, EV_AMEND, oside, id, 0, owner, 0, price, qty) < 0) return -1;
        if (remove_order(e, slot) < 0) return -1;
        return process(e, bi, oside, T_LIMIT, id, owner, price, qty) < 0 ? -1 : 0;
    }
    *why = "unknown operation";
    return 1;
}

/* ---------- call auction ---------- */

/* Uniform price: max volume; then min imbalance; then the highest price if every remaining
   candidate has more demand than supply, else the lowest. 0 when nothing crosses. */
static uint64_t clearing_price(Book *b, uint64_t *volume) {
    uint32_t nb = b->n[BUY], na = b->n[SELL];
    *volume = 0;
    if (!nb || !na) return 0;
    uint64_t total_bid = 0;
    for (uint32_t i = 0; i < nb; i++) total_bid += b->lv[BUY][i].total;
    /* walk candidates ascending: bids ascending (index 0 up), asks ascending (index na-1 down) */
    uint64_t best_vol = 0, best_imb = 0, best_price = 0;
    int best_all_demand = 1, have = 0;
    uint64_t lowest = 0, highest = 0;
    /* two passes over the merged candidates: first find the best (vol, imb), then the extremes */
    for (int pass = 0; pass < 2; pass++) {
        uint32_t i = 0; int64_t j = (int64_t)na - 1;
        uint64_t bid_below = 0, ask_upto = 0;
        while (i < nb || j >= 0) {
            uint64_t p;
            if (j < 0 || (i < nb && b->lv[BUY][i].price < b->lv[SELL][j].price)) p = b->lv[BUY][i].price;
            else p = b->lv[SELL][j].price;
            while (j >= 0 && b->lv[SELL][j].price == p) { ask_upto += b->lv[SELL][j].total; j--; }
            uint64_t demand = total_bid - bid_below;
            while (i < nb && b->lv[BUY][i].price == p) { bid_below += b->lv[BUY][i].total; i++; }
            uint64_t supply = ask_upto;
            uint64_t vol = demand < supply ? demand : supply;
            uint64_t imb = demand > supply ? demand - supply : supply - demand;
            if (pass == 0) {
                if (vol > best_vol || (vol == best_vol && vol > 0 && imb < best_imb)) { best_vol = vol; best_imb = imb; }
            } else if (vol == best_vol && imb == best_imb && vol > 0) {
                if (!have) lowest = p;
                highest = p; have = 1;
                if (!(demand > supply)) best_all_demand = 0;
            }
        }
    }
    if (best_vol == 0) return 0;
    best_price = best_all_demand ? highest : lowest;
    *volume = best_vol;
    return best_price;
}

static int run_auction(Engine *e, uint32_t bi, int cancel_rest) {
    Book *b = &e->books[bi];
    uint64_t volume;
    uint64_t p = clearing_price(b, &volume);
    if (p) {
        while (b->n[BUY] && b->n[SELL]) {
            Level *bl = &b->lv[BUY][b->n[BUY] - 1], *al = &b->lv[SELL][b->n[SELL] - 1];
            if (bl->price < p || al->price > p) break;
            uint32_t bs = bl->head, as = al->head;
            Order *bo = &e->slots[bs], *ao = &e->slots[as];
            uint64_t f = bo->qty < ao->qty ? bo->qty : ao->qty;
            SPEND(e, fills);
            SPEND(e, levels);
            if (emit(e, EV_FILL, 2, bo->id, ao->id, bo->owner, ao->owner, p, f) < 0) return -1;
            if (f == bo->qty) { if (remove_order(e, bs) < 0) return -1; }
            else if (reduce_order(e, bs, f, bl) < 0) return -1;
            al = &b->lv[SELL][b->n[SELL] - 1];
            if (f == ao->qty) { if (remove_order(e, as) < 0) return -1; }
            else if (reduce_order(e, as, f, al) < 0) return -1;
        }
    }
    if (cancel_rest) {
        for (int side = 0; side < 2; side++) {
            while (b->n[side]) {
                Level *l = &b->lv[side][b->n[side] - 1];
                Order *o = &e->slots[l->head];
                SPEND(e, levels);
                if (emit(e, EV_CANCEL, side, o->id, R_AUCTION_END, o->owner, 0, o->price, o->qty) < 0) return -1;
                if (remove_order(e, l->head) < 0) return -1;
            }
        }
    }
    return 0;
}

/* ---------- serialisation ---------- */

static int ser_put(uint8_t **buf, size_t *n, size_t *cap, const void *src, size_t len) {
    if (grow((void **)buf, 1, *n + len, cap) < 0) return -1;
    memcpy(*buf + *n, src, len);
    *n += len;
    return 0;
}

static PyObject *serialize(Engine *e) {
    uint8_t *buf = NULL; size_t n = 0, cap = 0;
    uint8_t tmp[32];
    int bad = 0;
    bad |= ser_put(&buf, &n, &cap, "SME1", 4);
    put64(tmp, e->next_id); put32(tmp + 8, e->nbooks);
    bad |= ser_put(&buf, &n, &cap, tmp, 12);
    for (uint32_t bi = 0; bi < e->nbooks && !bad; bi++) {
        Book *b = &e->books[bi];
        bad |= ser_put(&buf, &n, &cap, b->operator_, 20);
        tmp[0] = b->stp; tmp[1] = b->auction;
        bad |= ser_put(&buf, &n, &cap, tmp, 2);
        for (int side = 0; side < 2; side++) {
            put32(tmp, b->n[side]);
            bad |= ser_put(&buf, &n, &cap, tmp, 4);
            for (int64_t i = (int64_t)b->n[side] - 1; i >= 0; i--) { /* best level first */
                Level *l = &b->lv[side][i];
                put64(tmp, l->price); put32(tmp + 8, l->count);
                bad |= ser_put(&buf, &n, &cap, tmp, 12);
                for (uint32_t s = l->head; s != NIL; s = e->slots[s].next) {
                    Order *o = &e->slots[s];
                    put64(tmp, o->id); put64(tmp + 8, o->owner); put64(tmp + 16, o->qty);
                    bad |= ser_put(&buf, &n, &cap, tmp, 24);
                }
            }
        }
    }
    if (bad) { PyMem_Free(buf); return PyErr_NoMemory(); }
    PyObject *r = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
    PyMem_Free(buf);
    return r;
}

static void engine_clear(Engine *e) {
    for (uint32_t i = 0; i < e->nbooks; i++) { PyMem_Free(e->books[i].lv[0]); PyMem_Free(e->books[i].lv[1]); }
    PyMem_Free(e->books); PyMem_Free(e->slots); PyMem_Free(e->freelist); PyMem_Free(e->id_slot);
    PyMem_Free(e->log); PyMem_Free(e->ev);
    e->books = NULL; e->slots = NULL; e->freelist = NULL; e->id_slot = NULL; e->log = NULL; e->ev = NULL;
    e->nbooks = e->capbooks = e->nslots = e->capslots = e->nfree = e->capfree = e->live = 0;
    e->capids = 0; e->nlog = e->caplog = 0; e->nev = e->capev = 0;
    e->next_id = 1;
}

static int new_book(Engine *e, const uint8_t *operator_, int stp, int auction) {
    size_t cap = e->capbooks;
    if (grow((void **)&e->books, sizeof(Book), e->nbooks + 1, &cap) < 0) { e->oom = 1; return -1; }
    e->capbooks = (uint32_t)cap;
    Book *b = &e->books[e->nbooks++];
    memset(b, 0, sizeof(Book));
    memcpy(b->operator_, operator_, 20);
    b->stp = (uint8_t)stp; b->auction = (uint8_t)auction;
    Undo u = {0}; u.kind = U_BOOK_NEW;
    return log_push(e, &u);
}

/* 0 ok, 1 malformed */
static int deserialize(Engine *e, const uint8_t *p, size_t len) {
    size_t off = 0;
#define NEED(k) do { if (off + (k) > len) return 1; } while (0)
    NEED(16);
    if (memcmp(p, "SME1", 4)) return 1;
    off = 4;
    e->next_id = get64(p + off); off += 8;
    uint32_t nbooks = get32(p + off); off += 4;
    if (e->next_id == 0 || nbooks > MAX_BOOKS) return 1;
    int journal = e->journal; e->journal = 0;
    for (uint32_t bi = 0; bi < nbooks; bi++) {
        NEED(22);
        if (p[off + 20] > STP_CANCEL_BOTH || p[off + 21] > 1) { e->journal = journal; return 1; }
        if (new_book(e, p + off, p[off + 20], p[off + 21]) < 0) { e->journal = journal; return -1; }
        off += 22;
        for (int side = 0; side < 2; side++) {
            NEED(4);
            uint32_t nl = get32(p + off); off += 4;
            uint64_t prev_price = 0;
            for (uint32_t i = 0; i < nl; i++) {
                NEED(12);
                uint64_t price = get64(p + off); uint32_t count = get32(p + off + 8); off += 12;
                /* best first: bids descending, asks ascending, strictly */
                if (price == 0 || price > MAX_PRICE || count == 0 ||
                    (i && (side == BUY ? price >= prev_price : price <= prev_price))) { e->journal = journal; return 1; }
                prev_price = price;
                for (uint32_t k = 0; k < count; k++) {
                    NEED(24);
                    uint64_t id = get64(p + off), owner = get64(p + off + 8), qty = get64(p + off + 16);
                    off += 24;
                    if (id == 0 || id >= e->next_id || qty == 0 || qty > MAX_QTY || find(e, bi, id) ||
                        (id < e->capids && e->id_slot[id])) { e->journal = journal; return 1; }
                    if (add_order(e, bi, side, id, owner, price, qty) < 0) { e->journal = journal; return -1; }
                }
            }
        }
    }
    e->journal = journal;
    if (off != len) return 1;
    return 0;
#undef NEED
}

/* ---------- Python type ---------- */

static PyObject *Engine_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Engine *e = (Engine *)type->tp_alloc(type, 0);
    if (!e) return NULL;
    e->next_id = 1;
    e->journal = 1;
    return (PyObject *)e;
}

static void Engine_dealloc(Engine *e) {
    engine_clear(e);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static int get_book(Engine *e, unsigned long long book, const char *caller, Py_ssize_t caller_len, uint32_t *bi) {
    if (book == 0 || book > e->nbooks) { PyErr_Format(MatchingError, "unknown book %llu", book); return -1; }
    *bi = (uint32_t)(book - 1);
    if (caller) {
        if (caller_len != 20 || memcmp(caller, e->books[*bi].operator_, 20)) {
            PyErr_Format(MatchingError, "book %llu: the caller is not its operator", book);
            return -1;
        }
    }
    return 0;
}

static PyObject *finish_call(Engine *e, size_t mark, int failed) {
    if (e->oom) { rollback_to(e, mark); e->oom = 0; e->over = 0; return PyErr_NoMemory(); }
    if (e->over) {
        rollback_to(e, mark); e->over = 0;
        PyErr_Format(MatchingError, "work budget exceeded (%llu units)", (unsigned long long)e->budget);
        return NULL;
    }
    if (failed) { rollback_to(e, mark); return NULL; }
    PyObject *ev = PyBytes_FromStringAndSize((const char *)e->ev, (Py_ssize_t)e->nev);
    if (!ev) return NULL;
    return Py_BuildValue("(NKK)", ev, (unsigned long long)e->fills, (unsigned long long)e->levels);
}

static PyObject *Engine_create_book(Engine *e, PyObject *args) {
    const char *op; Py_ssize_t oplen; int stp, auction;
    if (!PyArg_ParseTuple(args, "y#ip", &op, &oplen, &stp, &auction)) return NULL;
    if (oplen != 20) { PyErr_SetString(MatchingError, "operator must be a 20-byte address"); return NULL; }
    if (stp < 0 || stp > STP_CANCEL_BOTH) { PyErr_Format(MatchingError, "unknown self-trade mode %d", stp); return NULL; }
    if (e->nbooks >= MAX_BOOKS) { PyErr_SetString(MatchingError, "too many books"); return NULL; }
    if (new_book(e, (const uint8_t *)op, stp, auction) < 0) { e->oom = 0; return PyErr_NoMemory(); }
    return PyLong_FromUnsignedLong(e->nbooks);
}

/* execute(caller | None, book, commands, budget=2**64-1) -> (events, fills, levels); all or nothing. */
static PyObject *Engine_execute(Engine *e, PyObject *args) {
    const char *caller = NULL; Py_ssize_t caller_len = 0; unsigned long long book, budget = UINT64_MAX;
    Py_buffer cmds;
    if (!PyArg_ParseTuple(args, "z#Ky*|K", &caller, &caller_len, &book, &cmds, &budget)) return NULL;
    uint32_t bi;
    if (get_book(e, book, caller, caller_len, &bi) < 0) { PyBuffer_Release(&cmds); return NULL; }
    if (cmds.len % 32) {
        PyBuffer_Release(&cmds);
        PyErr_SetString(MatchingError, "commands must be whole 32-byte words");
        return NULL;
    }
    int journal = e->journal; e->journal = 1; /* an error undoes the whole call */
    size_t mark = e->nlog;
    e->nev = 0; e->fills = 0; e->levels = 0; e->budget = budget; e->over = 0;
    const uint8_t *w = (const uint8_t *)cmds.buf;
    Py_ssize_t n = cmds.len / 32;
    int failed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *why = NULL;
        int r = command(e, bi, w + 32 * i, i, &why);
        if (r < 0) break;
        if (r > 0) { PyErr_Format(MatchingError, "command %zd: %s", i, why); failed = 1; break; }
    }
    PyBuffer_Release(&cmds);
    PyObject *res = finish_call(e, mark, failed);
    e->journal = journal;
    if (!journal && res) e->nlog = mark;
    return res;
}

static PyObject *Engine_run_auction(Engine *e, PyObject *args) {
    const char *caller = NULL; Py_ssize_t caller_len = 0; unsigned long long book, budget = UINT64_MAX;
    int cancel_rest;
    if (!PyArg_ParseTuple(args, "z#Kp|K", &caller, &caller_len, &book, &cancel_rest, &budget)) return NULL;
    uint32_t bi;
    if (get_book(e, book, caller, caller_len, &bi) < 0) return NULL;
    if (!e->books[bi].auction) { PyErr_Format(MatchingError, "book %llu is not a call-auction book", book); return NULL; }
    int journal = e->journal; e->journal = 1;
    size_t mark = e->nlog;
    e->nev = 0; e->fills = 0; e->levels = 0; e->budget = budget; e->over = 0;
    run_auction(e, bi, cancel_rest);
    PyObject *res = finish_call(e, mark, 0);
    e->journal = journal;
    if (!journal && res) e->nlog = mark;
    return res;
}

static PyObject *Engine_clearing_price(Engine *e, PyObject *args) {
    unsigned long long book;
    if (!PyArg_ParseTuple(args, "K", &book)) return NULL;
    uint32_t bi;
    if (get_book(e, book, NULL, 0, &bi) < 0) return NULL;
    uint64_t vol;
    uint64_t p = clearing_price(&e->books[bi], &vol);
    return Py_BuildValue("(KK)", (unsigned long long)p, (unsigned long long)vol);
}

static PyObject *Engine_best(Engine *e, PyObject *args) {
    unsigned long long book;
    if (!PyArg_ParseTuple(args, "K", &book)) return NULL;
    uint32_t bi;
    if (get_book(e, book, NULL, 0, &bi) < 0) return NULL;
    Book *b = &e->books[bi];
    unsigned long long v[4] = {0, 0, 0, 0};
    for (int side = 0; side < 2; side++)
        if (b->n[side]) { v[2 * side] = b->lv[side][b->n[side] - 1].price; v[2 * side + 1] = b->lv[side][b->n[side] - 1].total; }
    return Py_BuildValue("(KKKK)", v[0], v[1], v[2], v[3]);
}

static PyObject *Engine_depth(Engine *e, PyObject *args) {
    unsigned long long book; int side; unsigned int count;
    if (!PyArg_ParseTuple(args, "KiI", &book, &side, &count)) return NULL;
    uint32_t bi;
    if (get_book(e, book, NULL, 0, &bi) < 0) return NULL;
    if (side != BUY && side != SELL) { PyErr_SetString(MatchingError, "side must be 0 (buy) or 1 (sell)"); return NULL; }
    Book *b = &e->books[bi];
    uint32_t k = count < b->n[side] ? count : b->n[side];
    PyObject *list = PyList_New(k);
    if (!list) return NULL;
    for (uint32_t i = 0; i < k; i++) {
        Level *l = &b->lv[side][b->n[side] - 1 - i];
        PyObject *t = Py_BuildValue("(KKI)", (unsigned long long)l->price, (unsigned long long)l->total, l->count);
        if (!t) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, i, t);
    }
    return list;
}

static PyObject *Engine_order(Engine *e, PyObject *args) {
    unsigned long long book, id;
    if (!PyArg_ParseTuple(args, "KK", &book, &id)) return NULL;
    uint32_t bi;
    if (get_book(e, book, NULL, 0, &bi) < 0) return NULL;
    Order *o = find(e, bi, id);
    if (!o) Py_RETURN_NONE;
    return Py_BuildValue("(iKKK)", o->side, (unsigned long long)o->price, (unsigned long long)o->qty,
                         (unsigned long long)o->owner);
}

static PyObject *Engine_serialize(Engine *e, PyObject *unused) { return serialize(e); }

static PyObject *Engine_from_bytes(PyObject *cls, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Engine *e = (Engine *)Engine_new((PyTypeObject *)cls, NULL, NULL);
    if (!e) { PyBuffer_Release(&data); return NULL; }
    int r = deserialize(e, (const uint8_t *)data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    if (r) {
        Py_DECREF(e);
        if (r < 0) return PyErr_NoMemory();
        PyErr_SetString(MatchingError, "malformed engine serialisation");
        return NULL;
    }
    e->nlog = 0;
    return (PyObject *)e;
}

static PyObject *Engine_checkpoint(Engine *e, PyObject *unused) { return PyLong_FromSize_t(e->nlog); }

static PyObject *Engine_rollback(Engine *e, PyObject *args) {
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "n", &pos)) return NULL;
    if (pos < 0 || (size_t)pos > e->nlog) { PyErr_Format(MatchingError, "no checkpoint at %zd", pos); return NULL; }
    rollback_to(e, (size_t)pos);
    Py_RETURN_NONE;
}

static PyObject *Engine_clear_log(Engine *e, PyObject *unused) { e->nlog = 0; Py_RETURN_NONE; }

static PyObject *Engine_set_journal(Engine *e, PyObject *args) {
    int on;
    if (!PyArg_ParseTuple(args, "p", &on)) return NULL;
    e->journal = on;
    if (!on) e->nlog = 0;
    Py_RETURN_NONE;
}

static PyObject *Engine_get_live(Engine *e, void *c) { return PyLong_FromUnsignedLong(e->live); }
static PyObject *Engine_get_books(Engine *e, void *c) { return PyLong_FromUnsignedLong(e->nbooks); }
static PyObject *Engine_get_next_id(Engine *e, void *c) { return PyLong_FromUnsignedLongLong(e->next_id); }

static PyMethodDef Engine_methods[] = {
    {"create_book", (PyCFunction)Engine_create_book, METH_VARARGS,
     "create_book(operator: bytes, stp: int, auction: bool) -> book id"},
    {"execute", (PyCFunction)Engine_execute, METH_VARARGS,
     "execute(caller: bytes | None, book: int, commands: bytes) -> (events, fills, levels)"},
    {"run_auction", (PyCFunction)Engine_run_auction, METH_VARARGS,
     "run_auction(caller: bytes | None, book: int, cancel_rest: bool) -> (events, fills, levels)"},
    {"clearing_price", (PyCFunction)Engine_clearing_price, METH_VARARGS, "clearing_price(book) -> (price, volume)"},
    {"best", (PyCFunction)Engine_best, METH_VARARGS, "best(book) -> (bid, bid_qty, ask, ask_qty)"},
    {"depth", (PyCFunction)Engine_depth, METH_VARARGS, "depth(book, side, n) -> [(price, qty, orders)]"},
    {"order", (PyCFunction)Engine_order, METH_VARARGS, "order(book, id) -> (side, price, qty, owner) | None"},
    {"serialize", (PyCFunction)Engine_serialize, METH_NOARGS, "the whole state, deterministic"},
    {"from_bytes", (PyCFunction)Engine_from_bytes, METH_VARARGS | METH_CLASS, "an engine from serialize()"},
    {"checkpoint", (PyCFunction)Engine_checkpoint, METH_NOARGS, "the undo log's position"},
    {"rollback", (PyCFunction)Engine_rollback, METH_VARARGS, "undo back to a checkpoint"},
    {"clear_log", (PyCFunction)Engine_clear_log, METH_NOARGS, "forget the undo log (changes become final)"},
    {"set_journal", (PyCFunction)Engine_set_journal, METH_VARARGS, "keep an undo log between calls or not"},
    {NULL}
};

static PyGetSetDef Engine_getset[] = {
    {"live_orders", (getter)Engine_get_live, NULL, "resting orders", NULL},
    {"book_count", (getter)Engine_get_books, NULL, "books", NULL},
    {"next_id", (getter)Engine_get_next_id, NULL, "the next order id", NULL},
    {NULL}
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vm.matching._engine.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Settle's native order-matching engine.",
    .tp_new = Engine_new,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_engine", "Native order matching.", -1, NULL};

PyMODINIT_FUNC PyInit__engine(void) {
    if (PyType_Ready(&EngineType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    MatchingError = PyErr_NewException("vm.matching._engine.MatchingError", PyExc_ValueError, NULL);
    Py_INCREF(&EngineType);
    PyModule_AddObject(m, "Engine", (PyObject *)&EngineType);
    PyModule_AddObject(m, "MatchingError", MatchingError);
    PyModule_AddIntConstant(m, "MAX_PRICE", (long)MAX_PRICE);
    PyModule_AddIntConstant(m, "MAX_QTY", (long)MAX_QTY);
    PyModule_AddIntConstant(m, "MAX_LIVE_ORDERS", (long)MAX_LIVE_ORDERS);
    PyModule_AddIntConstant(m, "MAX_BOOKS", (long)MAX_BOOKS);
    return m;
}
