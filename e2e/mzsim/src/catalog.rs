//! Durable state in PostgreSQL, one database per environment id (`mzsim_<hash>`): the fence
//! token (deploy generation, epoch), the newest version that opened the catalog, the next item
//! id, system parameters, catalog objects mzsim keeps itself, statement counters, and the user's
//! own schemas and tables. Surviving restarts, upgrades and generation changes comes for free.

use std::time::Duration;

use scenario_operator::version::{MzVersion, check_upgrade};
use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};
use tracing::warn;

/// How long to keep retrying the metadata backend at start-up before giving up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("metadata backend: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("metadata backend URL: {0}")]
    Url(String),
}

/// What the boot decision found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Uninitialized catalog or our own generation: read-write leader with this epoch.
    Leader { epoch: i64 },
    /// A newer generation than the catalog's: boot read-only and wait for promotion.
    ReadOnly { next_item_id: i64 },
    /// The catalog belongs to a newer generation.
    FencedOut { catalog_generation: i64 },
    /// The catalog was written by a version this one may not open.
    Refused(String),
}

/// What promotion found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promotion {
    /// We wrote the new fence token.
    Promoted,
    /// A generation at least as new already holds the catalog.
    Fenced,
}

pub struct Catalog {
    client: Mutex<Client>,
    /// Connection settings of the environment's database, for SQL sessions.
    session_config: Config,
}

/// Name of an environment's database: a short stable hash of the metadata database and the
/// environment id (ids can be longer than PostgreSQL's 63-byte identifiers). The metadata
/// database is part of it so that a fresh backend database means a fresh environment.
pub fn database_name(backend_database: &str, environment_id: &str) -> String {
    format!(
        "mzsim_{:016x}",
        fnv1a(format!("{backend_database}/{environment_id}").as_bytes())
    )
}

/// FNV-1a: stable across builds, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            warn!(error = %e, "metadata backend connection closed");
        }
    });
    Ok(client)
}

/// Connects, retrying while the backend is not up yet (a pod may start before PostgreSQL).
async fn connect_patiently(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    loop {
        match connect(config).await {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() < deadline => {
                warn!(error = %e, "metadata backend not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS mzsim;
CREATE TABLE IF NOT EXISTS mzsim.state (
    id int PRIMARY KEY CHECK (id = 1),
    deploy_generation bigint NOT NULL,
    epoch bigint NOT NULL,
    version text NOT NULL,
    next_item_id bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS mzsim.system_parameters (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS mzsim.items (kind text, name text, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS mzsim.secret_ids (id bigserial, name text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS mzsim.statements (
    kind text, statement text, count bigint NOT NULL, PRIMARY KEY (kind, statement)
);
CREATE TABLE IF NOT EXISTS mzsim.promotions (generation bigint PRIMARY KEY, count bigint NOT NULL);
CREATE TABLE IF NOT EXISTS mzsim.promote_waits (generation bigint PRIMARY KEY, ms double precision NOT NULL);
CREATE TABLE IF NOT EXISTS mzsim.events (generation bigint NOT NULL, event text NOT NULL, at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS mzsim.privileges (
    grantee text, object_type text, schema_name text, name text, privilege text,
    PRIMARY KEY (grantee, object_type, schema_name, name, privilege)
);
CREATE SCHEMA IF NOT EXISTS mz_catalog;
CREATE SCHEMA IF NOT EXISTS mz_internal;
CREATE OR REPLACE VIEW mz_catalog.mz_clusters AS SELECT name FROM mzsim.items WHERE kind = 'cluster';
CREATE OR REPLACE VIEW mz_catalog.mz_roles AS SELECT name FROM mzsim.items WHERE kind = 'role';
CREATE OR REPLACE VIEW mz_catalog.mz_connections AS SELECT name FROM mzsim.items WHERE kind = 'connection';
CREATE OR REPLACE VIEW mz_catalog.mz_secrets AS SELECT name FROM mzsim.items WHERE kind = 'secret';
CREATE OR REPLACE FUNCTION mz_catalog.mz_version() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('mzsim.version') $$;
-- Materialize's datediff(unit, a, b): how many unit boundaries lie between a and b (UTC).
CREATE OR REPLACE FUNCTION mz_catalog.datediff(unit text, a timestamp, b timestamp) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE rtrim(lower(unit), 's')
    WHEN 'millennium', 'millennia' THEN
        RETURN floor(extract(year FROM b) / 1000) - floor(extract(year FROM a) / 1000);
    WHEN 'century', 'centurie' THEN
        RETURN floor(extract(year FROM b) / 100) - floor(extract(year FROM a) / 100);
    WHEN 'decade' THEN
        RETURN floor(extract(year FROM b) / 10) - floor(extract(year FROM a) / 10);
    WHEN 'year' THEN RETURN extract(year FROM b) - extract(year FROM a);
    WHEN 'quarter' THEN
        RETURN (extract(year FROM b) - extract(year FROM a)) * 4
            + extract(quarter FROM b) - extract(quarter FROM a);
    WHEN 'month' THEN
        RETURN (extract(year FROM b) - extract(year FROM a)) * 12
            + extract(month FROM b) - extract(month FROM a);
    WHEN 'week' THEN RETURN (date_trunc('week', b)::date - date_trunc('week', a)::date) / 7;
    WHEN 'day' THEN RETURN date_trunc('day', b)::date - date_trunc('day', a)::date;
    WHEN 'hour' THEN
        RETURN extract(epoch FROM date_trunc('hour', b) - date_trunc('hour', a)) / 3600;
    WHEN 'minute' THEN
        RETURN extract(epoch FROM date_trunc('minute', b) - date_trunc('minute', a)) / 60;
    WHEN 'second' THEN RETURN extract(epoch FROM date_trunc('second', b) - date_trunc('second', a));
    WHEN 'millisecond' THEN
        RETURN extract(epoch FROM date_trunc('milliseconds', b) - date_trunc('milliseconds', a)) * 1000;
    WHEN 'microsecond' THEN RETURN extract(epoch FROM b - a) * 1000000;
    ELSE RAISE EXCEPTION 'invalid datetime unit: %', unit USING ERRCODE = '22023';
    END CASE;
END $$;
CREATE OR REPLACE FUNCTION mz_catalog.datediff(unit text, a timestamptz, b timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT mz_catalog.datediff(unit, a AT TIME ZONE 'UTC', b AT TIME ZONE 'UTC') $$;
CREATE OR REPLACE FUNCTION mz_catalog.datediff(unit text, a date, b date) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT mz_catalog.datediff(unit, a::timestamp, b::timestamp) $$;
CREATE OR REPLACE VIEW mz_internal.mz_show_all_privileges AS
    SELECT 'materialize'::text AS grantor, grantee, 'materialize'::text AS database,
           schema_name AS schema, name, object_type, privilege AS privilege_type
    FROM mzsim.privileges;
CREATE OR REPLACE VIEW mz_catalog.mz_schemas AS
    SELECT 'u' || oid AS id, nspname::text AS name FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema', 'mzsim')
      AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%';
CREATE OR REPLACE VIEW mz_catalog.mz_tables AS
    SELECT 'u' || c.oid AS id, c.relname::text AS name, 'u' || c.relnamespace AS schema_id
    FROM pg_class c JOIN mz_catalog.mz_schemas s ON s.id = 'u' || c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND s.name NOT IN ('mz_catalog', 'mz_internal');
CREATE OR REPLACE VIEW mz_catalog.mz_views AS
    SELECT 'u' || c.oid AS id, c.relname::text AS name, 'u' || c.relnamespace AS schema_id
    FROM pg_class c JOIN mz_catalog.mz_schemas s ON s.id = 'u' || c.relnamespace
    WHERE c.relkind = 'v' AND s.name NOT IN ('mz_catalog', 'mz_internal');
CREATE OR REPLACE VIEW mz_catalog.mz_indexes AS
    SELECT 'u' || i.indexrelid AS id, c.relname::text AS name, 'u' || i.indrelid AS on_id
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN mz_catalog.mz_schemas s ON s.id = 'u' || c.relnamespace;
CREATE OR REPLACE VIEW mz_internal.mz_comments AS
    SELECT 'u' || d.objoid AS id,
           CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END AS object_type,
           NULLIF(d.objsubid, 0) AS object_sub_id, d.description AS comment
    FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    JOIN mz_catalog.mz_schemas s ON s.id = 'u' || c.relnamespace;
CREATE OR REPLACE VIEW mz_internal.mzsim_statements AS SELECT kind, statement, count FROM mzsim.statements;
CREATE OR REPLACE VIEW mz_internal.mzsim_promotions AS SELECT generation, count FROM mzsim.promotions;
CREATE OR REPLACE VIEW mz_internal.mzsim_promote_waits AS SELECT generation, ms FROM mzsim.promote_waits;
CREATE OR REPLACE VIEW mz_internal.mzsim_events AS SELECT generation, event, at FROM mzsim.events;
";

impl Catalog {
    /// Opens (creating if needed) the environment's database and mzsim's tables in it.
    pub async fn open(metadata_url: &str, environment_id: &str) -> Result<Catalog, CatalogError> {
        let admin: Config = metadata_url
            .parse()
            .map_err(|e: tokio_postgres::Error| CatalogError::Url(e.to_string()))?;
        let database = database_name(admin.get_dbname().unwrap_or("postgres"), environment_id);
        let maintenance = connect_patiently(&admin).await?;
        let exists = maintenance
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await?
            .is_some();
        if !exists {
            // Two processes may race here; the loser sees duplicate_database and carries on.
            if let Err(e) = maintenance
                .batch_execute(&format!("CREATE DATABASE {database}"))
                .await
                && e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
            {
                return Err(e.into());
            }
        }
        drop(maintenance);
        let mut env = admin.clone();
        env.dbname(&database).application_name("mzsim");
        let client = connect_patiently(&env).await?;
        // One process at a time creates the schema (CREATE … IF NOT EXISTS still races).
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(4242); {SCHEMA} COMMIT;"
            ))
            .await?;
        let mut session_config = env.clone();
        session_config
            .application_name("mzsim-session")
            .options("-c search_path=public,mz_catalog,mz_internal");
        Ok(Catalog {
            client: Mutex::new(client),
            session_config,
        })
    }

    pub fn session_config(&self) -> &Config {
        &self.session_config
    }

    /// environmentd's preflight: compare our deploy generation and version with the catalog's.
    pub async fn boot(&self, generation: u64, version: &MzVersion) -> Result<Boot, CatalogError> {
        let generation = generation as i64;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT deploy_generation, epoch, version, next_item_id FROM mzsim.state WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let boot = match row {
            None => {
                tx.execute(
                    "INSERT INTO mzsim.state VALUES (1, $1, 1, $2, 0)",
                    &[&generation, &version.to_string()],
                )
                .await?;
                Boot::Leader { epoch: 1 }
            }
            Some(row) => {
                let (catalog_generation, epoch): (i64, i64) = (row.get(0), row.get(1));
                let catalog_version: String = row.get(2);
                let catalog_version: MzVersion = catalog_version
                    .parse()
                    .map_err(|e| CatalogError::Url(format!("corrupt catalog version: {e}")))?;
                if generation < catalog_generation {
                    Boot::FencedOut { catalog_generation }
                } else if let Err(refusal) = check_upgrade(&catalog_version, version) {
                    Boot::Refused(refusal.to_string())
                } else if generation == catalog_generation {
                    let newest = catalog_version.max(version.clone()).to_string();
                    tx.execute(
                        "UPDATE mzsim.state SET epoch = epoch + 1, version = $1 WHERE id = 1",
                        &[&newest],
                    )
                    .await?;
                    Boot::Leader { epoch: epoch + 1 }
                } else {
                    Boot::ReadOnly {
                        next_item_id: row.get(3),
                    }
                }
            }
        };
        tx.commit().await?;
        Ok(boot)
    }

    /// The current fence token `(deploy generation, epoch)`.
    pub async fn fence_token(&self) -> Result<(i64, i64), CatalogError> {
        let client = self.client.lock().await;
        let row = client
            .query_one(
                "SELECT deploy_generation, epoch FROM mzsim.state WHERE id = 1",
                &[],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    pub async fn next_item_id(&self) -> Result<i64, CatalogError> {
        let client = self.client.lock().await;
        Ok(client
            .query_one("SELECT next_item_id FROM mzsim.state WHERE id = 1", &[])
            .await?
            .get(0))
    }

    /// A new catalog object: what makes a catching-up read-only generation reboot.
    pub async fn bump_item_id(&self) -> Result<(), CatalogError> {
        let client = self.client.lock().await;
        client
            .execute(
                "UPDATE mzsim.state SET next_item_id = next_item_id + 1 WHERE id = 1",
                &[],
            )
            .await?;
        Ok(())
    }

    /// Opens the catalog for generation `generation`: writes the new fence token, which fences
    /// every older process. `waited` (ReadyToPromote → promote request) is kept with it.
    pub async fn promote(
        &self,
        generation: u64,
        version: &MzVersion,
        waited: Option<std::time::Duration>,
    ) -> Result<Promotion, CatalogError> {
        let generation = generation as i64;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                "SELECT deploy_generation, version FROM mzsim.state WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let catalog_generation: i64 = row.get(0);
        if catalog_generation >= generation {
            tx.commit().await?;
            return Ok(Promotion::Fenced);
        }
        let catalog_version: String = row.get(1);
        let newest = match catalog_version.parse::<MzVersion>() {
            Ok(v) if v > *version => v.to_string(),
            _ => version.to_string(),
        };
        tx.execute(
            "UPDATE mzsim.state SET deploy_generation = $1, epoch = epoch + 1, version = $2 WHERE id = 1",
            &[&generation, &newest],
        )
        .await?;
        tx.execute(
            "INSERT INTO mzsim.promotions VALUES ($1, 1) ON CONFLICT (generation) DO UPDATE SET count = mzsim.promotions.count + 1",
            &[&generation],
        )
        .await?;
        if let Some(waited) = waited {
            let ms = waited.as_secs_f64() * 1000.0;
            tx.execute(
                "INSERT INTO mzsim.promote_waits VALUES ($1, $2) ON CONFLICT (generation) DO NOTHING",
                &[&generation, &ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Promotion::Promoted)
    }

    /// One event of a generation's life (`Started`, then each deployment status it takes), at
    /// `at` in seconds since the epoch: what the benchmark counts as Materialize's own time.
    pub async fn event(
        &self,
        generation: u64,
        event: &str,
        at: std::time::SystemTime,
    ) -> Result<(), CatalogError> {
        let at = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let client = self.client.lock().await;
        client
            .execute(
                "INSERT INTO mzsim.events VALUES ($1, $2, $3)",
                &[&(generation as i64), &event, &at],
            )
            .await?;
        Ok(())
    }

    /// System parameters set with ALTER SYSTEM (they override the command-line defaults).
    pub async fn system_parameters(&self) -> Result<Vec<(String, String)>, CatalogError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT name, value FROM mzsim.system_parameters ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// `ALTER SYSTEM SET` (`Some`) or `RESET` (`None`); `name: None` resets all.
    pub async fn set_system_parameter(
        &self,
        name: Option<&str>,
        value: Option<&str>,
    ) -> Result<(), CatalogError> {
        let client = self.client.lock().await;
        match (name, value) {
            (Some(n), Some(v)) => {
                client
                    .execute(
                        "INSERT INTO mzsim.system_parameters VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                        &[&n, &v],
                    )
                    .await?;
            }
            (Some(n), None) => {
                client
                    .execute("DELETE FROM mzsim.system_parameters WHERE name = $1", &[&n])
                    .await?;
            }
            (None, _) => {
                client
                    .execute("DELETE FROM mzsim.system_parameters", &[])
                    .await?;
            }
        }
        Ok(())
    }

    /// Adds a catalog object; `Ok(false)` if it existed.
    pub async fn create_item(&self, kind: &str, name: &str) -> Result<bool, CatalogError> {
        let client = self.client.lock().await;
        let n = client
            .execute(
                "INSERT INTO mzsim.items VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&kind, &name],
            )
            .await?;
        Ok(n == 1)
    }

    /// Records a GRANT (adds) or REVOKE (removes) of privileges on an object.
    pub async fn set_privileges(
        &self,
        grant: bool,
        privileges: &[String],
        object_type: &str,
        object: &str,
        roles: &[String],
    ) -> Result<(), CatalogError> {
        let (schema, name) = match object.rsplit_once('.') {
            // `db.schema.name` or `schema.name`.
            Some((prefix, name)) => (prefix.rsplit('.').next().unwrap_or("public"), name),
            None if matches!(object_type, "schema" | "database" | "cluster") => ("", object),
            None => ("public", object),
        };
        let client = self.client.lock().await;
        for role in roles {
            for p in privileges {
                let sql = if grant {
                    "INSERT INTO mzsim.privileges VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
                } else {
                    "DELETE FROM mzsim.privileges WHERE grantee = $1 AND object_type = $2 \
                     AND schema_name = $3 AND name = $4 AND privilege = $5"
                };
                client
                    .execute(sql, &[role, &object_type, &schema, &name, p])
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes a catalog object; `Ok(false)` if it did not exist.
    pub async fn drop_item(&self, kind: &str, name: &str) -> Result<bool, CatalogError> {
        let client = self.client.lock().await;
        Ok(client
            .execute(
                "DELETE FROM mzsim.items WHERE kind = $1 AND name = $2",
                &[&kind, &name],
            )
            .await?
            == 1)
    }

    /// The catalog id (`u<n>`) of secret `name`, assigned on first use; never reused.
    pub async fn secret_id(&self, name: &str) -> Result<String, CatalogError> {
        let client = self.client.lock().await;
        client
            .execute(
                "INSERT INTO mzsim.secret_ids (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&name],
            )
            .await?;
        let row = client
            .query_one("SELECT id FROM mzsim.secret_ids WHERE name = $1", &[&name])
            .await?;
        Ok(format!("u{}", row.get::<_, i64>(0)))
    }

    /// Forgets secret `name`'s id (a secret created again gets a new one); its old id.
    pub async fn drop_secret_id(&self, name: &str) -> Result<Option<String>, CatalogError> {
        let client = self.client.lock().await;
        let row = client
            .query_opt(
                "DELETE FROM mzsim.secret_ids WHERE name = $1 RETURNING id",
                &[&name],
            )
            .await?;
        Ok(row.map(|r| format!("u{}", r.get::<_, i64>(0))))
    }

    pub async fn items(&self, kind: &str) -> Result<Vec<String>, CatalogError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT name FROM mzsim.items WHERE kind = $1 ORDER BY name",
                &[&kind],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Counts one executed statement of `kind` (ddl, write, system).
    pub async fn count_statement(&self, kind: &str, statement: &str) -> Result<(), CatalogError> {
        let client = self.client.lock().await;
        client
            .execute(
                "INSERT INTO mzsim.statements VALUES ($1, $2, 1) ON CONFLICT (kind, statement) DO UPDATE SET count = mzsim.statements.count + 1",
                &[&kind, &statement],
            )
            .await?;
        Ok(())
    }

    /// Totals per kind, how many distinct statements ran more than once, and promotions per
    /// generation: the figures `/metrics` reports.
    pub async fn counters(&self) -> Result<Counters, CatalogError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT kind, sum(count)::bigint, count(*) FILTER (WHERE count > 1) FROM mzsim.statements GROUP BY kind ORDER BY kind",
                &[],
            )
            .await?;
        let statements = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let rows = client
            .query(
                "SELECT generation, count FROM mzsim.promotions ORDER BY generation",
                &[],
            )
            .await?;
        let promotions = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(Counters {
            statements,
            promotions,
        })
    }
}

/// Statement and promotion counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// (kind, executions, distinct statements executed more than once)
    pub statements: Vec<(String, i64, i64)>,
    /// (generation, promotions written)
    pub promotions: Vec<(i64, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_stable_short_identifiers() {
        let id = "cloudtest-test-00000000-0000-0000-0000-000000000000-0";
        let name = database_name("postgres", id);
        assert_eq!(name, database_name("postgres", id));
        assert_ne!(name, database_name("postgres", "other"));
        assert_ne!(name, database_name("rehearsal_2", id));
        assert_eq!(name.len(), "mzsim_".len() + 16);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
