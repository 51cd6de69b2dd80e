/**
 * Seeds in which the production planner breaks I1 today (found by this simulator when the inventory became
 * versioned): a planner takes the lease while its inventory follower is behind — it was paused, or polls more
 * slowly than the lease changed hands — and publishes from an older inventory version than the newest plan
 * records, so names removed by the newer version come back (and names it added go) until the follower catches up;
 * and since the version differs from the plan's, the planner's name threshold is skipped for that rollback.
 * The fix belongs in src/planner/planner.ts: refuse to plan from an inventory older than the newest plan's, and
 * count only a newer one as reviewed at apply. Until then the seed sweeps skip these seeds, and a todo test in
 * safe.test.ts replays them; once they pass, delete this list.
 */
export const inventoryRollbackSeeds: ReadonlySet<bigint> = new Set([40n, 130n, 406n, 435n, 456n]);
