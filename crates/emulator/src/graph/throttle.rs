//! Graph's per-application, per-tenant throttling (docs/microsoft-behaviour.md §0b, §6.4), on
//! the budget of [`crate::model::throttle`]: 429 `TooManyRequests` with `Retry-After` in seconds.

use super::{Caller, GraphError};
use crate::model::state::State;
use actix_web::http::StatusCode;

/// Count the caller's request against its application's budget in the token's tenant; 429 with
/// `Retry-After` when the budget of the current window is spent.
pub fn admit(state: &State, caller: &Caller) -> Result<(), GraphError> {
    match state
        .graph_throttle
        .admit(&caller.token.app_id, caller.tenant(), state.now_ms())
    {
        None => Ok(()),
        Some(retry_after) => {
            state.count("graph.throttled");
            let mut e = GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests. The application's request budget in this tenant is spent; retry after the number of seconds in the Retry-After header.",
            );
            e.retry_after = Some(retry_after);
            Err(e)
        }
    }
}
