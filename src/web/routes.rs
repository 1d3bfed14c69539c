//! The route recorder: every route is recorded as it is added, so a test can prove it covers
//! them all (D1, D3).

use axum::Router;
use axum::routing::MethodRouter;

use crate::app::AppState;

/// The routes of a part of the portal, with their paths.
pub struct Routes {
    pub(crate) router: Router<AppState>,
    pub(crate) paths: Vec<&'static str>,
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}
