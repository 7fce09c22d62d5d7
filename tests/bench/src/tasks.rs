//! Errors of the peer harness and a helper to open many sessions at once.
//! Measuring (recorder, closed-loop driver, floor) is `coord_cli::bench`'s,
//! shared with `coord bench`.

use std::future::Future;

use tokio::task::JoinSet;

/// Errors of the harness: any client's error, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of the harness.
pub(crate) type Res<T> = Result<T, BoxError>;

/// Runs `f` over `items` with at most `width` at a time, in order of results
/// not guaranteed; the first error is returned.
pub(crate) async fn concurrently<I, T, F, Fut>(items: I, width: usize, f: F) -> Res<Vec<T>>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: Future<Output = Res<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::new();
    for item in items {
        if set.len() >= width.max(1)
            && let Some(joined) = set.join_next().await
        {
            out.push(joined.map_err(|e| format!("task failed: {e}"))??);
        }
        set.spawn(f(item));
    }
    while let Some(joined) = set.join_next().await {
        out.push(joined.map_err(|e| format!("task failed: {e}"))??);
    }
    Ok(out)
}
