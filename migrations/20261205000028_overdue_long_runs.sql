-- Nothing stays RUNNING for ever: the imports and reconciliation runs that nothing has moved on
-- for a while, across users, for the worker's sweeper (`djinn_activities::sweeper`), as
-- `operations_overdue` gives it the operations. Either was registered before its workflow
-- started: the api may have died between the two, or staff may have terminated the run.
-- An import moves `updated_at` with every batch; a run is one pass, so its age is its quiet.
-- Ids and times only (a run's workflow id is made from its id), oldest first, after a cursor so that a sweep walks past the runs it leaves.

CREATE INDEX statement_imports_running_idx ON statement_imports (updated_at, id)
    WHERE status = 'running';
CREATE INDEX reconciliation_runs_running_idx ON reconciliation_runs (created_at, id)
    WHERE status = 'running';

CREATE FUNCTION long_runs_overdue(p_quiet_for interval, p_after_at timestamptz,
                                  p_after_id uuid, p_limit integer)
    RETURNS TABLE (kind text, id uuid, user_id uuid, workflow_id text, nightly boolean,
                   quiet_since timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT * FROM (
        SELECT 'import', i.id, i.user_id, i.workflow_id, false, i.updated_at
          FROM statement_imports i
         WHERE i.status = 'running' AND i.updated_at < now() - p_quiet_for
        UNION ALL
        SELECT 'reconciliation', r.id, r.user_id, NULL::text, r.nightly_on IS NOT NULL, r.created_at
          FROM reconciliation_runs r
         WHERE r.status = 'running' AND r.created_at < now() - p_quiet_for
    ) overdue (kind, id, user_id, workflow_id, nightly, quiet_since)
     WHERE p_after_at IS NULL OR (quiet_since, id) > (p_after_at, p_after_id)
     ORDER BY quiet_since, id
     LIMIT p_limit
$$;
REVOKE EXECUTE ON FUNCTION long_runs_overdue(interval, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION long_runs_overdue(interval, timestamptz, uuid, integer) TO djinn_app;
