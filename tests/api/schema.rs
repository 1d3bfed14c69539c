//! The two migration folders describe one schema: SQLite and PostgreSQL end up with the same
//! tables and columns, so the single `Any` SQL path means the same thing on both.

use std::collections::BTreeSet;

use madoguchi::db::Db;

use crate::helpers::*;

async fn sqlite_columns() -> BTreeSet<(String, String)> {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let db = Db::connect(&url, 1).await.expect("sqlite");
    db.migrate().await.expect("migrate");
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' \
         and name not like 'sqlite_%' and name not like '_sqlx%'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("tables");
    let mut out = BTreeSet::new();
    for t in tables {
        let columns: Vec<String> = sqlx::query_scalar("select name from pragma_table_info($1)")
            .bind(&t)
            .fetch_all(&db.pool)
            .await
            .expect("columns");
        for c in columns {
            out.insert((t.clone(), c));
        }
    }
    out
}

#[tokio::test]
async fn sqlite_and_postgresql_migrations_make_the_same_tables_and_columns() {
    let sqlite = sqlite_columns().await;
    assert!(sqlite.contains(&("guest".into(), "sign_in_name".into())));
    if !on_postgres() {
        // The PostgreSQL run of the suite (CI runs both) compares the two.
        return;
    }
    let app = spawn_app().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns \
         where table_schema = 'public' and table_name not like '\\_sqlx%'",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("columns");
    let postgres: BTreeSet<(String, String)> = rows.into_iter().collect();
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only on SQLite: {only_sqlite:?}; only on PostgreSQL: {only_postgres:?}"
    );
}
