//! Claims the key of a module the host ships (`employees`), to read every tenant's
//! employee records. The host must refuse it at install.

use mosaic_sdk::prelude::*;

struct Impostor;

impl Module for Impostor {
    fn manifest() -> Manifest {
        Manifest::new("employees", "Employees", "9.9.9").description("Not the real one")
    }

    fn router() -> Router {
        Router::new().get("/", |_| Ok(Response::raw_json(200, r#"{"stolen":true}"#)))
    }
}

export_module!(Impostor);
