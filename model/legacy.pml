/*
 * The 2025 design (DESIGN.md §1), checked with SPIN: it must fail. The same
 * model as src/sim/legacy.ts, smaller:
 * - each plan is a tree of records per endpoint (tree[n][g]); the root alias
 *   points at the active plan's tree; the rollback record, changed in the
 *   same change batch as the alias, must point at the active plan, so a
 *   batch fails when the active plan's tree no longer exists;
 * - per endpoint a lock record: a batch is a compare-and-swap on the lock
 *   (it fails if the lock moved), never on the generation; a lock can expire
 *   while its holder is paused;
 * - an enactor checks once, up front, that its plan is newer than the
 *   applied one, then walks the endpoints;
 * - after applying a plan, the clean-up deletes the trees of plans more than
 *   K generations older than it.
 *
 * Build with one of (-D):
 *   CHECK_EMPTY     S1: an endpoint whose alias points at a deleted tree answers nothing
 *   CHECK_ROLLBACK  S2: an alias never moves to an older plan
 *   CHECK_DEAD_END  L3: a batch never fails because the active plan is gone
 * Each yields a counterexample; `spin -t -p legacy.pml` replays it, and the
 * printf lines read as a timeline.
 */

#ifndef E
#define E 2
#endif
#ifndef N
#define N 2
#endif
#define G 4
#define K 1

#define IX(n, g) ((n) * (G + 1) + (g))

byte latest = 0;
bool tree[N * (G + 1)];
byte alias[N];
byte rollback[N];
byte lock[N];                /* holder id + 1; 0 = free */
bool dead_end = false;

byte cn;

inline checkEmpty() {
#ifdef CHECK_EMPTY
  for (cn : 0 .. N - 1) {
    assert(alias[cn] == 0 || tree[IX(cn, alias[cn])])   /* S1: the alias points at records */
  }
  cn = 0
#else
  skip
#endif
}

active proctype Planner() {
  do
  :: atomic { latest < G -> latest++; printf("planner: published plan %d\n", latest) }
  :: atomic { latest == G -> break }
  od
}

proctype Enactor(byte id) {
  byte g, n, applied, rb, old;
end_idle:
  do
  :: atomic { latest > 0 -> g = latest };                     /* read the newest plan */
     atomic {                                                  /* the up-front check, made once */
       for (n : 0 .. N - 1) { if :: alias[n] > applied -> applied = alias[n] :: else -> skip fi }
       n = 0;
       if
       :: g <= applied -> goto next
       :: else -> printf("enactor %d: picks plan %d (up-front check: %d > applied %d)\n", id, g, g, applied)
       fi
     };
     for (n : 0 .. N - 1) {
       atomic { lock[n] == 0 -> lock[n] = id + 1 };            /* win the lock (retried until free) */
       atomic { rb = rollback[n] };                            /* read the rollback record */
       atomic {                                                /* the change batch: CAS on the lock only */
         if
         :: lock[n] != id + 1 -> printf("enactor %d: plan %d batch failed on endpoint %d: lost the lock\n", id, g, n); goto next
         :: lock[n] == id + 1 && rollback[n] != rb -> goto next
         :: lock[n] == id + 1 && rollback[n] == rb && alias[n] != 0 && !tree[IX(n, alias[n])] ->
            printf("enactor %d: plan %d FAILED on endpoint %d: the active plan %d no longer exists\n", id, g, n, alias[n]);
            dead_end = true;
#ifdef CHECK_DEAD_END
            assert(!dead_end);                                 /* L3: later plans can be enacted */
#endif
            goto next
         :: lock[n] == id + 1 && rollback[n] == rb && (alias[n] == 0 || tree[IX(n, alias[n])]) ->
            old = alias[n];
#ifdef CHECK_ROLLBACK
            assert(g >= old);                                  /* S2: never back to an older plan */
#endif
            tree[IX(n, g)] = true; alias[n] = g; rollback[n] = g;
            printf("enactor %d: applied plan %d to endpoint %d (alias plan %d -> plan %d)\n", id, g, n, old, g);
            checkEmpty();
            old = 0
         fi
       };
       atomic { if :: lock[n] == id + 1 -> lock[n] = 0 :: else -> skip fi };   /* release */
       rb = 0
     }
     /* The clean-up: delete every plan more than K generations older than the one just applied, one plan per step. */
     for (old : 1 .. G) {
       atomic {
         if
         :: old + K < g ->
            for (n : 0 .. N - 1) {
              if
              :: tree[IX(n, old)] ->
                 tree[IX(n, old)] = false;
                 if
                 :: alias[n] == old -> printf("enactor %d: clean-up after plan %d deletes plan %d of endpoint %d, its ACTIVE plan: it answers nothing\n", id, g, old, n)
                 :: else -> printf("enactor %d: clean-up after plan %d deletes plan %d of endpoint %d\n", id, g, old, n)
                 fi;
                 checkEmpty()
              :: else -> skip
              fi
            }
            n = 0
         :: else -> skip
         fi
       }
     }
next:
     atomic { g = 0; n = 0; applied = 0; rb = 0; old = 0 }
  od
}

/* A lock expires while its holder is paused. */
active proctype LockExpiry() {
  byte n;
end_expiry:
  do
  :: atomic { select (n : 0 .. N - 1); if :: lock[n] != 0 -> printf("lock of endpoint %d expired while its holder %d was paused\n", n, lock[n] - 1); lock[n] = 0 :: else -> skip fi; n = 0 }
  od
}

init {
  byte id;
  atomic {
    for (id : 0 .. E - 1) { run Enactor(id) }
    id = 0
  }
}
