/*
 * dnsplane's enactment protocol (DESIGN.md §3), checked exhaustively with SPIN
 * for small bounds: E enactors, N names, G generations, a planner, a janitor
 * and a reconciler, with crashes, lost acknowledgements and expired
 * heartbeats. check.sh runs it; the bounds are set there.
 *
 * The model follows the production code (src/enactor/enactor.ts, janitor.ts,
 * reconciler.ts) call by call — each atomic block is one call to the store
 * or the provider (or two, where the gap between them provably cannot
 * matter, as noted), plus the local work after it — with two abstractions
 * that only ADD behaviours, so that a safe model means a safe protocol:
 *
 * 1. Enactors are memoryless. A production enactor remembers the newest
 *    generation it completed and skips names it already handled; forgetting
 *    that is what a crash does, and a crash can strike at any moment. So
 *    every step of a model enactor is that of a freshly restarted one, and a
 *    crash (or an apply whose acknowledgement is lost) is simply a step
 *    abandoned at any point.
 * 2. The janitor may pick any floor up to latest - RETAIN. Production keeps
 *    the floor below every live enactor's held generation, but a hold
 *    counts only while its heartbeat is fresh, and a pause can expire any
 *    heartbeat at any moment (the holder resuming right after). So safety
 *    must not depend on holds; the model checks that it does not.
 *
 * The record set of version (name, since) is represented by `since` itself:
 * "serves the set of plan g" is `srv_rec == since of the version visible at
 * g`. Locals are reset to 0 when dead, so that states differing only in
 * garbage are one state.
 *
 * Removals: a later plan may remove a name (a version whose set is "none",
 * vrem) and a later one add it back. A removal deletes the served records and
 * leaves a tombstone with its generation; a first write (to a name not
 * served) at or below the tombstone is refused, as every provider does
 * (src/providers/types.ts). The generation a removed name had is kept in
 * srv_gen, so S2 also covers a name coming back.
 *
 * Compaction (issue 16; src/providers/types.ts: RemovalCompaction): the
 * janitor raises the removal floor to a generation below its clean-up floor
 * and deletes the tombstones at or below it; a first write at or below the
 * floor is refused for every name, as below a tombstone. The floor it picks
 * is any up to latest - RETAIN - 1 (the same abstraction of holds as for its
 * clean-up floor: a paused enactor's hold does not count).
 *
 * Invariants (assertions):
 *   S1  a written set is never empty
 *   S2  a write never lowers the served generation (a removed name's included)
 *   S3  the served set is the set of the version visible at the served generation, never a removal
 *   S4  that version still exists (the clean-up never deleted it)
 *   L3  the newest plan exists whole (its header, and a version for every name)
 *
 * Build switches (-D), each expected to produce a counterexample:
 *   JANITOR_DELETES_UNSERVED  the janitor as it was before the simulator found the bug:
 *                             versions of names not served yet are deletable (S4)
 *   NO_CAS                    the provider ignores the expected version (S2)
 *   NO_TOMBSTONE              a removal leaves no tombstone: a stale first write brings the name back (S2)
 *   COMPACT_WITHOUT_FLOOR     compaction deletes tombstones without raising the removal floor (S2)
 */

#ifndef E
#define E 3
#endif
#ifndef N
#define N 2
#endif
#ifndef G
#define G 4
#endif
#define RETAIN 1

#define IX(n, s) ((n) * (G + 1) + (s))

byte latest = 0;
bool header[G + 1];
bool vexists[N * (G + 1)];
bool vrem[N * (G + 1)];      /* the version removes the name */
byte vsup[N * (G + 1)];      /* superseded_by; 0 = current */

byte srv_gen[N];             /* the marker: the enacted generation (kept after a removal) */
byte srv_rec[N];             /* the served set (0 = not served) */
byte tomb[N];                /* the generation that removed the name; 0 = none */
byte rfloor = 0;             /* the removal floor: first writes at or below it are refused */

byte cn, cs, t;              /* scratch of the inlines below, always left at 0 */

/* s := since of the version of n visible at g (since <= g < superseded_by), 0 if none. */
inline visible(n, g, s) {
  s = 0;
  t = g;
  do
  :: t == 0 -> break
  :: t > 0 && vexists[IX(n, t)] ->
     if
     :: vsup[IX(n, t)] == 0 || vsup[IX(n, t)] > g -> s = t
     :: else -> skip
     fi;
     break
  :: t > 0 && !vexists[IX(n, t)] -> t--
  od;
  t = 0
}

/* s := since of the newest existing version of n with since <= g (SqliteStore's viewName, used by readEntriesAt). */
inline latestSince(n, g, s) {
  s = 0;
  t = g;
  do
  :: t == 0 -> break
  :: t > 0 && vexists[IX(n, t)] -> s = t; break
  :: t > 0 && !vexists[IX(n, t)] -> t--
  od;
  t = 0
}

/*
 * S3, S4 and L3 over the whole state. They can only change where the state
 * changes — a provider write, a clean-up, a publish — so each of those
 * atomic steps ends with this check (cheaper than a monitor process).
 */
inline checkInvariants() {
  for (cn : 0 .. N - 1) {
    if
    :: srv_rec[cn] != 0 ->
       visible(cn, srv_gen[cn], cs);
       assert(cs != 0);               /* S4: the version the served generation refers to exists */
       assert(cs == srv_rec[cn]);     /* S3: the served set is that version's set ... */
       assert(!vrem[IX(cn, cs)])      /* ... and not a removal */
    :: else -> skip
    fi;
    visible(cn, latest, cs);
    assert(latest == 0 || cs != 0)   /* L3: the newest plan has a version for every name ... */
  }
  assert(latest == 0 || header[latest]);  /* L3: ... and its header */
  cn = 0;
  cs = 0
}

/*
 * The compare of provider.apply, against what was read: the name served
 * (rr != 0) at generation gen, or not served (rr == 0). Every write of the
 * safe protocol raises the served generation (an enactor writes g above the
 * generation it read, the reconciler the newest plan over an older one), so
 * the generation read is as good a version as a write counter — until an
 * invariant breaks, which the check reports first — and it keeps the state
 * space small. A first write must also be above the removal tombstone.
 */
#ifdef NO_CAS
#define CAS_HOLDS(n, rr, gen, g) true
#else
#ifdef NO_TOMBSTONE
#define CAS_HOLDS(n, rr, gen, g) ((rr) == 0 && srv_rec[n] == 0 || (rr) != 0 && srv_rec[n] != 0 && srv_gen[n] == (gen))
#else
#define CAS_HOLDS(n, rr, gen, g) ((rr) == 0 && srv_rec[n] == 0 && tomb[n] < (g) && rfloor < (g) || (rr) != 0 && srv_rec[n] != 0 && srv_gen[n] == (gen))
#endif
#endif

/* The write of provider.apply once the compare succeeded: records and marker together, or the removal. */
inline write(n, g, since) {
  assert(since != 0);                  /* S1: never an empty set */
  assert(g >= srv_gen[n]);             /* S2: never a lower generation (nor a removed name back below its removal) */
  if
  :: vrem[IX(n, since)] -> srv_rec[n] = 0; tomb[n] = g
  :: else -> srv_rec[n] = since; tomb[n] = 0
  fi;
  srv_gen[n] = g;
  checkInvariants()
}

/* The tombstone as the janitor sees it (Provider.readRemovals: the higher of it and the floor); none without tombstones. */
#ifdef NO_TOMBSTONE
#define TOMB(n) 0
#else
#define TOMB(n) (tomb[n] > rfloor -> tomb[n] : rfloor)
#endif

/*
 * The planner: the first plan has every name; each later one changes one
 * name, chosen nondeterministically (so a name's set often stays the same
 * across generations: versions with since < g, superseded later, which is
 * what the delta reads and the clean-up are about) — a new set, or its
 * removal, or, for a removed name, its return. Publishing is one atomic
 * step, as the store's publish transaction is.
 */
active proctype Planner() {
  byte n, s, next, changed;
  bool removed;
  do
  :: atomic {
       latest < G ->
       next = latest + 1;
       select (changed : 0 .. N - 1);
       for (n : 0 .. N - 1) {
         if
         :: latest > 0 && n != changed -> goto unchanged
         :: else -> skip
         fi;
         removed = false;
         for (s : 1 .. G) {
           if
           :: vexists[IX(n, s)] && vsup[IX(n, s)] == 0 -> vsup[IX(n, s)] = next; removed = vrem[IX(n, s)]
           :: else -> skip
           fi
         }
         vexists[IX(n, next)] = true;
         if
         :: latest > 0 && !removed -> vrem[IX(n, next)] = true   /* the operator removed the endpoint */
         :: true -> skip                                         /* a new set (or the name back) */
         fi;
unchanged:
         skip
       }
       header[next] = true;
       latest = next;
       checkInvariants();
       n = 0; s = 0; next = 0; changed = 0; removed = false
     }
  :: latest == G -> break
  od
}

/*
 * An enactor step for one name (Enactor.step, batchNamesMax 1): read the
 * newest generation; read the name's entry of that plan and the served
 * state, and decide; write with CAS. Between any two of these, anything may
 * happen, including the step being abandoned (a crash, an acknowledgement
 * lost after the write, a conflict: the generation is retried later).
 * readPlan and provider.read are one block: the entry is immutable, and a
 * version deleted in the gap belongs to a name already past it (a skip).
 */
/*
 * Symmetry reduction of the identical enactors. Their locals live in global
 * arrays, one slot per enactor (within the proctype the usual names stand for
 * the enactor's own slot), and every enactor step ends by sorting the slots
 * (canonical), so of the up to E! states that differ only in which enactor
 * is in which local state, one is stored. This is sound (Emerson & Sistla,
 * Ip & Dill: full symmetry with a canonical representative):
 * - the E enactors run the same code, and their id only selects their slot:
 *   no step reads another enactor's slot, and no other process reads any;
 * - between two steps every enactor is at the same control point, the loop
 *   head (each step is one atomic block that never blocks once begun), so an
 *   enactor's whole state is its slot and its constant id;
 * - so swapping two slots maps a reachable state to one whose futures are the
 *   same up to that swap, and every assertion is about the shared plan store
 *   and provider (S1, S2 test the values written, not who writes them).
 * Hence an assertion can fail in the reduced state space iff it can in the
 * full one. -DNO_SYMMETRY turns the sort off; check.sh shows both giving the
 * same verdict at a small bound.
 */
byte eg[E], en[E], es[E], erg[E], err[E];
byte ci, cj, cx;             /* scratch of canonical, always left at 0 */

#define EKEY(i) ((((eg[i] * 8 + en[i]) * 8 + es[i]) * 8 + erg[i]) * 8 + err[i])
#define ESWAP(a, i, j) cx = a[i]; a[i] = a[j]; a[j] = cx

/* Sort the enactor slots by (g, n, s, rg, rr): a bubble sort of at most E slots. */
inline canonical() {
#ifndef NO_SYMMETRY
  for (ci : 1 .. E - 1) {
    for (cj : 0 .. E - 1 - ci) {
      if
      :: EKEY(cj) > EKEY(cj + 1) ->
         ESWAP(eg, cj, cj + 1); ESWAP(en, cj, cj + 1); ESWAP(es, cj, cj + 1);
         ESWAP(erg, cj, cj + 1); ESWAP(err, cj, cj + 1)
      :: else -> skip
      fi
    }
  }
  ci = 0; cj = 0; cx = 0
#else
  skip
#endif
}

#define g eg[id]
#define n en[id]
#define s es[id]
#define rg erg[id]
#define rr err[id]
proctype Enactor(byte id) {
end_idle:
  do
  :: atomic { latest > 0 && g == 0 -> g = latest; select (cx : 0 .. N - 1); n = cx; cx = 0; canonical() }       /* latestGeneration (and heartbeat) */
  :: atomic {                                                                       /* readPlan(g, one name), provider.read, decide */
       g != 0 && s == 0 ->
       if
       :: header[g] -> visible(n, g, s); rg = srv_gen[n]; rr = srv_rec[n]
       :: else -> skip                                                             /* cleaned up under us */
       fi;
       if
       :: s == 0 -> g = 0; n = 0; rg = 0; rr = 0                                   /* nothing to do */
       :: s != 0 && vrem[IX(n, s)] && (rr == 0 || rg >= s) -> g = 0; n = 0; s = 0; rg = 0; rr = 0   /* removal: gone already, or newer: skip */
       :: s != 0 && !vrem[IX(n, s)] && rr != 0 && rg >= s -> g = 0; n = 0; s = 0; rg = 0; rr = 0    /* newer or same: skip (S2, S5) */
       :: else -> skip
       fi;
       canonical()
     }
  :: atomic { s != 0 && CAS_HOLDS(n, rr, rg, g) -> write(n, g, s); g = 0; n = 0; s = 0; rg = 0; rr = 0; canonical() }   /* provider.apply */
  :: atomic { s != 0 && !CAS_HOLDS(n, rr, rg, g) -> g = 0; n = 0; s = 0; rg = 0; rr = 0; canonical() }                  /* conflict or superseded: read again later */
  :: atomic { g != 0 -> g = 0; n = 0; s = 0; rg = 0; rr = 0; canonical() }                                                 /* crash: the step is abandoned */
  od
}
#undef g
#undef n
#undef s
#undef rg
#undef rr

/*
 * The janitor (Janitor.tick): a floor; the candidates below it, with the
 * served generations, decide what to delete; delete. The gap that matters —
 * served generations read, deletion later — is kept; the decision mirrors
 * the production rule: a superseded version goes once its name serves a
 * generation at or above the version that replaced it, or was removed at or
 * above it (its tombstone); never for a name not served and not removed.
 */
active proctype Janitor() {
  byte floor, n, s, g, through;
  bool deletable[N * (G + 1)];
end_janitor:
  do
  :: atomic {                                          /* latestGeneration, listEnactors: the floor (see above) */
       floor == 0 && latest > RETAIN -> select (floor : 1 .. latest - RETAIN)
     }
  :: atomic {                                          /* listSuperseded(floor), provider.read, the decision, deletePlanData */
       floor != 0 ->
       for (n : 0 .. N - 1) {
         for (s : 1 .. G) {
           deletable[IX(n, s)] = vexists[IX(n, s)] && vsup[IX(n, s)] != 0 && vsup[IX(n, s)] <= floor &&
#ifdef JANITOR_DELETES_UNSERVED
             (srv_rec[n] == 0 || srv_gen[n] >= vsup[IX(n, s)])
#else
             (srv_rec[n] != 0 && srv_gen[n] >= vsup[IX(n, s)] || srv_rec[n] == 0 && TOMB(n) != 0 && TOMB(n) >= vsup[IX(n, s)])
#endif
         }
       }
       n = 0; s = 0
     };
     atomic {                                          /* deletePlanData(deletable, headers below the floor) */
       for (n : 0 .. N - 1) {
         for (s : 1 .. G) {
           if
           :: deletable[IX(n, s)] && vexists[IX(n, s)] -> vexists[IX(n, s)] = false; vsup[IX(n, s)] = 0; vrem[IX(n, s)] = false
           :: else -> skip
           fi;
           deletable[IX(n, s)] = false
         }
       }
       for (g : 1 .. G) { if :: g < floor -> header[g] = false :: else -> skip fi }
       checkInvariants();
       n = 0; s = 0; g = 0; floor = 0
     }
  :: atomic {                                          /* removalCompaction().compact(through) */
       floor == 0 && latest > RETAIN + 1 && rfloor < latest - RETAIN - 1 ->
       select (through : rfloor + 1 .. latest - RETAIN - 1);
#ifndef COMPACT_WITHOUT_FLOOR
       rfloor = through;
#endif
       for (n : 0 .. N - 1) {
         if
         :: tomb[n] != 0 && tomb[n] <= through -> tomb[n] = 0
         :: else -> skip
         fi
       }
       n = 0; through = 0
     }
  od
}

/*
 * The reconciler (Reconciler.tick) for one name per pass (a production pass
 * looks at every name in turn, each on its own): read the newest plan; read
 * the served state and classify it; repair drift by CAS at the newest
 * generation.
 */
active proctype Reconciler() {
  byte L, n, w, rg, rr, expected;
  bool drift;
end_reconciler:
  do
  :: atomic {                                                    /* latestGeneration, readPlan(L) */
       L == 0 && latest > 0 && header[latest] -> L = latest; select (n : 0 .. N - 1); visible(n, L, w)
     }
  :: atomic {                                                    /* provider.list, readEntriesAt, classify, provider.read */
       L != 0 && !drift ->
       rg = srv_gen[n]; rr = srv_rec[n];
       if
       :: vrem[IX(n, w)] && rr != 0 && rg < w -> if :: drift = true :: drift = false fi   /* a removal not done (lagging) */
       :: vrem[IX(n, w)] && (rr == 0 || rg >= w) -> skip         /* removed, or newer than this pass */
       :: !vrem[IX(n, w)] && rr == 0 -> drift = true             /* missing */
       :: !vrem[IX(n, w)] && rr != 0 && rg > L -> skip           /* newer than this pass */
       :: !vrem[IX(n, w)] && rr != 0 && rg <= L && rg >= w -> drift = (rr != w)     /* edited */
       :: !vrem[IX(n, w)] && rr != 0 && rg < w ->
          latestSince(n, rg, expected);
          if
          :: expected == 0 || expected != rr -> drift = true     /* deleted-plan, edited */
          :: else -> if :: drift = true :: drift = false fi      /* lagging (its time limit abstracted away) */
          fi
       fi;
       if
       :: !drift -> L = 0; n = 0; w = 0; rg = 0; rr = 0; expected = 0   /* sound: the pass is over for this name */
       :: else -> rr = (rr != 0); expected = 0                          /* the repair needs only "served or not" */
       fi
     }
  :: atomic {                                                    /* provider.apply: the newest set, or the removal */
       drift ->
       if
       :: CAS_HOLDS(n, rr, rg, L) -> write(n, L, w)
       :: else -> skip                                           /* conflict or superseded: left for the next pass */
       fi;
       L = 0; n = 0; w = 0; rg = 0; rr = 0; drift = false
     }
  od
}

init {
  byte id;
  atomic {
    for (id : 0 .. E - 1) { run Enactor(id) }
    id = 0
  }
}
