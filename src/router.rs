//! Every route of the portal: each feature's pages merged onto the shared layers.

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use tower_http::services::ServeDir;

use crate::app::AppState;
use crate::links;
use crate::web::{self, routes::Routes, session_store::Store};

fn all_routes() -> Routes {
    Routes::new()
        .route(
            "/",
            get(|| async { Redirect::to(crate::links::GUEST_SIGN_IN) }),
        )
        .merge(crate::accounts::pages::router())
        .merge(crate::enrolment::pages::router())
        .merge(crate::clerks::pages::router())
        .merge(web::lang::router())
        .merge(crate::guests::pages::guest::router())
        .merge(crate::guests::pages::sheet::router())
        .merge(crate::guests::pages::account::router())
        .merge(crate::channels::pages::router())
        .merge(crate::attachments::pages::router())
        .merge(crate::messages::pages::router())
        .merge(crate::guests::pages::staff::router())
}

/// The path of every route the application answers (static files aside).
pub fn route_paths() -> Vec<&'static str> {
    all_routes().paths
}

/// The whole application: every route, the static files, and the shared layers.
pub fn router(state: AppState, store: Store) -> Router {
    let routes = all_routes()
        .router
        .nest_service(links::STATIC, ServeDir::new(web::static_dir()));
    web::shared_layers(routes, state, store)
}
