-- Live sessions only, pending ones by expiry: the counts below read the
-- unexpired, not every session ever created (ended ones pile up, and expired
-- ones wait for the sweep).
-- Every index on a column a session's state change touches is written at
-- each change: these three are covered by the partial ones below.
DROP INDEX sessions_by_state;
DROP INDEX sessions_by_user;
DROP INDEX sessions_by_host;
CREATE INDEX sessions_pending_by_application ON sessions (application, expires_at)
    WHERE state = 'PENDING';
CREATE INDEX sessions_pending_by_user ON sessions ("user", expires_at)
    WHERE state = 'PENDING';
CREATE INDEX sessions_pending_by_expiry ON sessions (expires_at) WHERE state = 'PENDING';
CREATE INDEX sessions_active_by_application ON sessions (application) WHERE state = 'ACTIVE';
CREATE INDEX sessions_active_by_host ON sessions (host) WHERE state = 'ACTIVE';

-- CreateSession on a fleet, a batch at a time (see `batch`): for each
-- request, the checks of `create_session` and the choice of a host, in one
-- round trip and one commit. The placement lock comes first, so batches from
-- every host take turns and never wait on each other's row locks; lock keys
-- are passed in, so they are defined once, in Rust.
CREATE FUNCTION appstream_create_placed_sessions(
    p_ids TEXT[], p_applications TEXT[], p_users TEXT[], p_token_hashes TEXT[],
    p_nows BIGINT[], p_expires_ats BIGINT[], p_max_pendings BIGINT[], p_fresh_sinces BIGINT[],
    p_pending_cap_lock INTEGER, p_placement_lock BIGINT)
RETURNS TABLE (out_index INTEGER, out_outcome TEXT, out_detail BIGINT, out_id TEXT,
               out_address TEXT, out_fingerprint TEXT, out_max_sessions BIGINT,
               out_live_sessions BIGINT, out_cpu_pct DOUBLE PRECISION, out_applications TEXT,
               out_heartbeat_at BIGINT, out_state TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    app applications%ROWTYPE;
    counted BIGINT;
    chosen TEXT;
    -- Counted once a batch and kept up to date by its inserts: with the
    -- placement lock held no one else adds a session, so a count can only
    -- have fallen since (a session ended), never risen.
    app_live JSONB := '{}';
    user_pending JSONB := '{}';
    host_load JSONB;
BEGIN
    PERFORM pg_advisory_xact_lock(p_placement_lock);
    SELECT COALESCE(jsonb_object_agg(l.host, l.n), '{}') INTO host_load
        FROM (SELECT live.host, COUNT(*) AS n
              FROM (SELECT s.host FROM sessions s
                    WHERE s.state = 'PENDING' AND s.expires_at > p_nows[1]
                    UNION ALL
                    SELECT s.host FROM sessions s WHERE s.state = 'ACTIVE') live
              WHERE live.host IS NOT NULL
              GROUP BY live.host) l;
    FOR i IN 1 .. COALESCE(array_length(p_ids, 1), 0) LOOP
        SELECT * INTO app FROM applications WHERE name = p_applications[i] FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT i, 'not_found'::TEXT, 0::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT,
                NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::TEXT, NULL::BIGINT, NULL::TEXT;
            CONTINUE;
        END IF;
        IF app.state = 'DISABLED' THEN
            RETURN QUERY SELECT i, 'disabled'::TEXT, 0::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT,
                NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::TEXT, NULL::BIGINT, NULL::TEXT;
            CONTINUE;
        END IF;
        IF NOT app_live ? app.name THEN
            SELECT (SELECT COUNT(*) FROM sessions s
                    WHERE s.application = app.name AND s.state = 'PENDING'
                      AND s.expires_at > p_nows[i])
                 + (SELECT COUNT(*) FROM sessions s
                    WHERE s.application = app.name AND s.state = 'ACTIVE')
                INTO counted;
            app_live := app_live || jsonb_build_object(app.name, counted);
        END IF;
        IF (app_live ->> app.name)::BIGINT >= app.max_sessions THEN
            RETURN QUERY SELECT i, 'application_full'::TEXT, app.max_sessions, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT,
                NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::TEXT, NULL::BIGINT, NULL::TEXT;
            CONTINUE;
        END IF;
        IF NOT user_pending ? p_users[i] THEN
            PERFORM pg_advisory_xact_lock(p_pending_cap_lock, hashtext(p_users[i]));
            SELECT COUNT(*) INTO counted FROM sessions s
                WHERE s."user" = p_users[i] AND s.state = 'PENDING'
                  AND s.expires_at > p_nows[i];
            user_pending := user_pending || jsonb_build_object(p_users[i], counted);
        END IF;
        IF (user_pending ->> p_users[i])::BIGINT >= p_max_pendings[i] THEN
            RETURN QUERY SELECT i, 'too_many_pending'::TEXT, p_max_pendings[i], NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT,
                NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::TEXT, NULL::BIGINT, NULL::TEXT;
            CONTINUE;
        END IF;
        -- The least loaded host with room that runs it; ties by CPU, then
        -- id (as `choose_host` orders them for SQLite).
        chosen := NULL;
        SELECT h.id INTO chosen FROM hosts h
            WHERE h.state = 'AVAILABLE' AND h.heartbeat_at >= p_fresh_sinces[i]
              AND h.applications::jsonb ? app.name
              AND COALESCE((host_load ->> h.id)::BIGINT, 0) < h.max_sessions
            ORDER BY COALESCE((host_load ->> h.id)::BIGINT, 0), h.cpu_pct, h.id
            LIMIT 1;
        IF chosen IS NULL THEN
            INSERT INTO sessions (id, application, "user", state, reason, token_hash,
                                  created_at, expires_at, terminated_at)
                VALUES (p_ids[i], app.name, p_users[i], 'TERMINATED', 'no_capacity',
                        p_token_hashes[i], p_nows[i], p_expires_ats[i], p_nows[i]);
            RETURN QUERY SELECT i, 'no_capacity'::TEXT, COUNT(*), NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT,
                NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::TEXT, NULL::BIGINT, NULL::TEXT FROM hosts h
                WHERE h.state = 'AVAILABLE' AND h.heartbeat_at >= p_fresh_sinces[i]
                  AND h.applications::jsonb ? app.name;
            CONTINUE;
        END IF;
        INSERT INTO sessions (id, application, "user", state, token_hash, created_at,
                              expires_at, host)
            VALUES (p_ids[i], app.name, p_users[i], 'PENDING', p_token_hashes[i],
                    p_nows[i], p_expires_ats[i], chosen);
        app_live := app_live
            || jsonb_build_object(app.name, (app_live ->> app.name)::BIGINT + 1);
        user_pending := user_pending
            || jsonb_build_object(p_users[i], (user_pending ->> p_users[i])::BIGINT + 1);
        host_load := host_load
            || jsonb_build_object(chosen, COALESCE((host_load ->> chosen)::BIGINT, 0) + 1);
        PERFORM pg_notify('appstream_changes', 'sessions PENDING ' || p_ids[i] || ' ' || chosen);
        RETURN QUERY SELECT i, 'placed'::TEXT, 0::BIGINT, h.id, h.address, h.fingerprint,
            h.max_sessions, h.live_sessions, h.cpu_pct, h.applications, h.heartbeat_at, h.state
            FROM hosts h WHERE h.id = chosen;
    END LOOP;
END
$$;

-- Signed requests' nonces, a batch at a time: claimed when new, or when
-- the record is older than that request's window. One request after
-- another, so a nonce twice in one batch is claimed once.
CREATE FUNCTION appstream_claim_nonces(p_ids TEXT[], p_ats BIGINT[], p_forget_befores BIGINT[])
RETURNS TABLE (out_index INTEGER, out_claimed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    claimed INTEGER;
BEGIN
    FOR i IN 1 .. COALESCE(array_length(p_ids, 1), 0) LOOP
        INSERT INTO request_nonces (id, at) VALUES (p_ids[i], p_ats[i])
            ON CONFLICT (id) DO UPDATE SET at = excluded.at
            WHERE request_nonces.at < p_forget_befores[i];
        GET DIAGNOSTICS claimed = ROW_COUNT;
        RETURN QUERY SELECT i, claimed = 1;
    END LOOP;
END
$$;

-- What other hosts act on, sent at commit to every host that listens on
-- `appstream_changes`: a table's name when its rows changed (the hosts'
-- caches of keys, principals and policies forget them; a changed catalog is
-- beaten at once), and for sessions `sessions <state> <id> <host>`: a
-- session placed on a host, and a stream's end, which its host acts on at
-- once.
CREATE FUNCTION appstream_notify_table() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('appstream_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE FUNCTION appstream_notify_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('appstream_changes',
        'sessions ' || NEW.state || ' ' || NEW.id || ' ' || COALESCE(NEW.host, '-'));
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_changed AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION appstream_notify_table();
CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION appstream_notify_table();
CREATE TRIGGER access_keys_changed AFTER INSERT OR UPDATE OR DELETE ON access_keys
    FOR EACH STATEMENT EXECUTE FUNCTION appstream_notify_table();
CREATE TRIGGER policies_changed AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION appstream_notify_table();
CREATE TRIGGER policy_attachments_changed AFTER INSERT OR UPDATE OR DELETE ON policy_attachments
    FOR EACH STATEMENT EXECUTE FUNCTION appstream_notify_table();
-- Only a stream's end is news to the host streaming it (an unredeemed
-- session streams nowhere; placements are told by the function above).
CREATE TRIGGER streaming_session_ended AFTER UPDATE OF state ON sessions
    FOR EACH ROW WHEN (OLD.state = 'ACTIVE' AND NEW.state = 'TERMINATED')
    EXECUTE FUNCTION appstream_notify_session();
