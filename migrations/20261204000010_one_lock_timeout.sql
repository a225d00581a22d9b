-- How long any of Djinn's statements waits for a row lock, named once: `djinn_lock_timeout()`.
--
-- Until now the value was written in four places (the SET clause of each ledger step function
-- and of the registration, 2 s) and differed from the one the Rust sessions set (3 s). Both
-- now read it from here:
-- - `store::session::begin_as` (and the sign-in session) set it per transaction with
--   `set_config('lock_timeout', djinn_lock_timeout(), true)`, in the batch that opens it;
-- - the functions that run as a lone statement carry it as a SET clause, applied below to
--   every function that has one; a function created later sets it for its own transaction
--   with `set_config('lock_timeout', djinn_lock_timeout(), true)`, as the void does.
-- 2 s keeps the at most four lock waits of a ledger step under its 10 s attempt timeout, so an
-- attempt that Temporal gave up on cannot linger and commit after a later attempt (or a void)
-- has moved on. Changing it is a migration that redefines this function and re-runs the loop.

CREATE FUNCTION djinn_lock_timeout() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '2s'::text $$;

DO $$
DECLARE
    step regprocedure;
BEGIN
    FOR step IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND EXISTS (SELECT 1 FROM unnest(p.proconfig) AS setting
                        WHERE setting LIKE 'lock\_timeout=%')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', step, djinn_lock_timeout());
    END LOOP;
END
$$;
