-- Nobody creates objects in the public schema but the migrations (run by the schema's owner).
-- PostgreSQL 15 no longer grants CREATE on it to PUBLIC in a new database, but earlier versions
-- did, and a database restored or upgraded from one keeps the grant: any role that can log in
-- could then create a function or table that shadows one of Djinn's (a SECURITY DEFINER
-- function's fixed search_path is the defence of last resort, not the first). The ledger's
-- migrations still grant CREATE to `djinn_app` for the two statements that hand it a function.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
