//! [`PgStore`]: hooks and the queue in PostgreSQL, shared by several processes:
//! workers lease deliveries with `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use super::sql::{
    DeliveryRow, HookRow, INSERT_CHUNK, WriteDeliveries, delivery_from_row, hook_from_row, migrator,
};
use super::{Store, lease_millis, millis, now_millis};
use crate::delivery::{Delivery, Settle};
use crate::error::Result;
use crate::hook::Hook;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "hooks",
        include_str!("migrations/postgres/0001_hooks.sql"),
    ),
    (
        2,
        "deliveries",
        include_str!("migrations/postgres/0002_deliveries.sql"),
    ),
];

/// `SELECT` of a whole hook row, then the rest of the query.
macro_rules! select_hooks {
    ($rest:literal) => {
        concat!(
            "SELECT id, owner, event, target, secret, active, created_at, metadata::text FROM rest_hooks_hooks ",
            $rest
        )
    };
}

/// A [`Store`] in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        Self::connect_with(options).await
    }

    /// Connects with `options` (for example with a `search_path`) and brings the
    /// schema up to date.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses the application's pool, and brings the schema up to date.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        migrator(MIGRATIONS).run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for transactions that [`fire_in`](crate::Hooks::fire_in) joins.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl WriteDeliveries for PgConnection {
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()> {
        // One statement per chunk: a single chunk is atomic without a transaction
        // of its own; callers with more use one (enqueue) or their own (fire_in).
        let now = now_millis();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                "INSERT INTO rest_hooks_deliveries
                 (id, hook_id, owner, event, target, payload, state, attempts, due_at, leased_until, created_at) ",
            );
            insert.push_values(chunk, |mut row, d| {
                row.push_bind(d.id.to_string())
                    .push_bind(d.hook_id.to_string())
                    .push_bind(d.owner.clone())
                    .push_bind(d.event.clone())
                    .push_bind(d.target.clone())
                    .push_bind(d.payload.clone())
                    .push_bind(d.state.as_str())
                    .push_bind(i64::from(d.attempts))
                    .push_bind(now)
                    .push_bind(None::<i64>)
                    .push_bind(millis(d.created_at));
            });
            insert.build().execute(&mut *self).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn insert_hook(&self, hook: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO rest_hooks_hooks (id, owner, event, target, secret, active, created_at, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        )
        .bind(hook.id.to_string())
        .bind(&hook.owner)
        .bind(&hook.event)
        .bind(&hook.target)
        .bind(&hook.secret)
        .bind(hook.active)
        .bind(millis(hook.created_at))
        .bind(hook.metadata.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = $1 AND owner = $2"))
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        row.map(hook_from_row).transpose()
    }

    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE owner = $1 ORDER BY id"))
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = $1 AND owner = $2")
            .bind(id.to_string())
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            sqlx::query("DELETE FROM rest_hooks_deliveries WHERE hook_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn active_hooks(&self) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE active ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<()> {
        if deliveries.len() <= INSERT_CHUNK {
            return self
                .pool
                .acquire()
                .await?
                .write_deliveries(deliveries)
                .await;
        }
        let mut tx = self.pool.begin().await?;
        tx.write_deliveries(deliveries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Delivery>> {
        let now = now_millis();
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "UPDATE rest_hooks_deliveries SET leased_until = $1
             WHERE id IN (
                 SELECT id FROM rest_hooks_deliveries
                 WHERE state = 'pending' AND due_at <= $2 AND (leased_until IS NULL OR leased_until <= $2)
                 ORDER BY due_at LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, hook_id, owner, event, target, payload, state, attempts, created_at",
        )
        .bind(now.saturating_add(lease_millis(lease)))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(delivery_from_row).collect()
    }

    async fn settle(&self, id: Uuid, outcome: Settle) -> Result<()> {
        sqlx::query(
            "UPDATE rest_hooks_deliveries SET state = $1, attempts = attempts + 1, leased_until = NULL WHERE id = $2",
        )
        .bind(outcome.state().as_str())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        let row: Option<DeliveryRow> = sqlx::query_as(
            "SELECT id, hook_id, owner, event, target, payload, state, attempts, created_at
             FROM rest_hooks_deliveries WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(delivery_from_row).transpose()
    }
}
