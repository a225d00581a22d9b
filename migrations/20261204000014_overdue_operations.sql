-- The operations nothing has moved on for a while, across users, for the worker's sweeper
-- (`djinn_activities::sweeper`): a registration whose workflow was never started (the api died
-- between registering and starting), or whose run ended without settling it (failed,
-- terminated, timed out). Row-level security keeps every other query to one user; this
-- function, owned by the tables' owner, is the one place that reads across them, and it
-- returns ids only: no amount, name or description.
CREATE FUNCTION operations_overdue(p_quiet_for interval, p_limit integer)
    RETURNS TABLE (id uuid, user_id uuid, kind text, workflow_id text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT o.id, o.user_id, o.kind, o.workflow_id
      FROM operations o
     WHERE o.status IN ('pending', 'awaiting_approval')
       AND o.updated_at < now() - p_quiet_for
     ORDER BY o.updated_at
     LIMIT p_limit
$$;

REVOKE EXECUTE ON FUNCTION operations_overdue(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operations_overdue(interval, integer) TO djinn_app;

CREATE INDEX operations_waiting_idx ON operations (updated_at)
    WHERE status IN ('pending', 'awaiting_approval');
