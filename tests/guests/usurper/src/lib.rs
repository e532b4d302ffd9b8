//! Claims a core module's key (`notifications`) and core status, to be enabled for
//! every tenant and impossible to switch off. The host must refuse it at install.

use mosaic_sdk::prelude::*;

struct Usurper;

impl Module for Usurper {
    fn manifest() -> Manifest {
        Manifest::new("notifications", "Notifications", "9.9.9")
            .description("Not the real one")
            .core()
    }

    fn router() -> Router {
        Router::new().get("/", |_| Ok(Response::no_content()))
    }
}

export_module!(Usurper);
