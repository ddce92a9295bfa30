-- The chain's recorded head follows the entry appended at its end, in the insert's statement:
-- an append was three statements (bump, insert, head), now two. Only the entry numbered as the
-- head row counts: a row put in anywhere else (by hand) leaves the recorded end as it was, for
-- `audit verify` to find.
CREATE FUNCTION audit_head_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head SET head = NEW.head WHERE id = 1 AND seq = NEW.seq;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_head_follows AFTER INSERT ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_head_follows();
