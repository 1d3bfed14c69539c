//! Recovery codes kept from before keyed hashing, sealed at start (B9).

use crate::app::AppState;

/// Seals any recovery-code hashes stored before they were keyed, so a copy of the database
/// alone cannot test guesses offline (B9).
pub async fn seal_legacy(state: &AppState) -> anyhow::Result<()> {
    super::store::seal_legacy_recovery_codes(&state.db, &state.secrets).await?;
    Ok(())
}
