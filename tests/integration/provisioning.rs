//! Each tenant's files: config.json (on disk and served with an ETag), the logo,
//! assets without a way out of the tenant's folder, and the exported site.

use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    config_file_and_endpoint,
    logo_upload,
    concurrent_logo_uploads_leave_the_last_committed_one,
    assets_stay_inside,
    deploy_site,
    a_failed_file_write_after_a_commit_is_reported_not_an_error,
    a_reused_subdomain_starts_with_an_empty_folder
);

/// The smallest valid PNG header, followed by filler.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    bytes
}

async fn config_file_and_endpoint(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let admin = app.admin_token();
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&admin)
        .json(&json!({"name": "Acme", "subdomain": "acme", "primary_color": "#112233"}))
        .send()
        .await
        .expect(201);
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(app.data_dir().join("tenants/acme/config.json"))
            .expect("config.json written on create"),
    )
    .expect("json");
    assert_eq!(
        on_disk,
        json!({
            "name": "Acme", "subdomain": "acme", "status": "active", "plan": "starter",
            "modules": {"employees": true, "attendance": false, "wallet": false, "tasks": false, "complaints": false, "shifts": false, "reports": false, "notifications": true},
            "in_plan": {"employees": true, "attendance": true, "wallet": false, "tasks": false, "complaints": false, "shifts": false, "reports": false, "notifications": true},
            "theme": {"primary_color": "#112233", "secondary_color": null},
            "logo_url": null,
        })
    );
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir().join("tenants/acme"))
        .expect("folder")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert_eq!(leftovers, ["config.json"], "no temp files are left behind");

    let first = app
        .req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
        .send()
        .await
        .expect(200);
    assert_eq!(first.body, on_disk, "the endpoint serves what is on disk");
    let etag = first.headers["etag"].to_str().expect("etag").to_owned();
    app.req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
        .header("if-none-match", &etag)
        .send()
        .await
        .expect(304);
    app.req(Method::GET, "/api/tenants/by-subdomain/acme/config")
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .expect(200);

    // A toggle invalidates the cached config: the old ETag no longer matches.
    app.req(Method::POST, "/api/admin/tenants/acme/modules/attendance")
        .bearer(&admin)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect(200);
    let changed = app
        .req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
        .header("if-none-match", &etag)
        .send()
        .await
        .expect(200);
    assert_eq!(changed.body["modules"]["attendance"], true);
    assert_ne!(changed.headers["etag"].to_str().expect("etag"), etag);
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(app.data_dir().join("tenants/acme/config.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        on_disk["modules"]["attendance"], true,
        "rewritten on every change"
    );

    app.req(Method::GET, "/api/tenants/by-subdomain/nobody/config/")
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn logo_upload(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let upload = |body: Vec<u8>| {
        app.req(Method::PUT, "/api/admin/tenants/acme/logo")
            .bearer(&admin)
            .raw(body)
            .send()
    };
    // Judged by content, not by the name or content type it claims.
    upload(b"<svg onload=alert(1)></svg>".to_vec())
        .await
        .expect_error(422, "validation_failed");
    upload(b"GIF89a........".to_vec())
        .await
        .expect_error(422, "validation_failed");
    upload(Vec::new())
        .await
        .expect_error(422, "validation_failed");
    let mut huge = png();
    huge.resize((2 << 20) + 1, 0);
    upload(huge).await.expect_error(413, "payload_too_large");

    let mut exactly = png();
    exactly.resize(2 << 20, 0);
    let stored = upload(exactly).await.expect(200).body;
    assert_eq!(stored["logo"], "logo.png");
    assert_eq!(
        stored["logo_url"],
        "/api/tenants/by-subdomain/acme/assets/logo.png"
    );
    let served = app
        .req(
            Method::GET,
            "/api/tenants/by-subdomain/acme/assets/logo.png",
        )
        .send()
        .await
        .expect(200);
    assert_eq!(served.headers["content-type"], "image/png");
    assert_eq!(served.headers["x-content-type-options"], "nosniff");

    // A JPEG replaces the PNG.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(&[0u8; 32]);
    assert_eq!(upload(jpeg).await.expect(200).body["logo"], "logo.jpg");
    assert!(!app.data_dir().join("tenants/acme/logo.png").exists());
    let config = app
        .req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(
        config["logo_url"],
        "/api/tenants/by-subdomain/acme/assets/logo.jpg"
    );
    let mut webp = b"RIFF\0\0\0\0WEBPVP8 ".to_vec();
    webp.extend_from_slice(&[0u8; 16]);
    assert_eq!(upload(webp).await.expect(200).body["logo"], "logo.webp");
}

async fn assets_stay_inside(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .with_tenant("globex", &[])
        .start()
        .await;
    let tenants = app.data_dir().join("tenants");
    std::fs::write(tenants.join("globex/secret.txt"), "globex only").expect("write");
    std::fs::write(app.data_dir().join("outside.txt"), "host only").expect("write");
    std::fs::create_dir_all(tenants.join("acme/css")).expect("mkdir");
    std::fs::write(tenants.join("acme/css/site.css"), "body{}").expect("write");
    std::os::unix::fs::symlink(
        tenants.join("globex/secret.txt"),
        tenants.join("acme/link.txt"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(tenants.join("globex"), tenants.join("acme/linkdir"))
        .expect("symlink");

    let (status, body) = app
        .raw_get("/api/tenants/by-subdomain/acme/assets/css/site.css")
        .await;
    assert_eq!((status, body.as_str()), (200, "body{}"));
    for path in [
        "../globex/secret.txt",
        "..%2fglobex%2fsecret.txt",
        "%2e%2e/globex/secret.txt",
        "%2E%2E%2F%2E%2E%2Foutside.txt",
        "css/../../globex/secret.txt",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "..%5cglobex%5csecret.txt",
        "./config.json",
        "link.txt",
        "linkdir/secret.txt",
        "css%00.txt",
    ] {
        let (status, body) = app
            .raw_get(&format!("/api/tenants/by-subdomain/acme/assets/{path}"))
            .await;
        assert!(
            status == 403 || status == 404 || status == 400,
            "{path}: {status} {body}"
        );
        assert!(
            !body.contains("globex only") && !body.contains("host only") && !body.contains("root:"),
            "{path}: {body}"
        );
        if status != 400 {
            let error: Value = serde_json::from_str(&body).expect("a JSON error");
            assert!(error["code"].is_string(), "{path}: {body}");
        }
    }
    let (status, _) = app
        .raw_get("/api/tenants/by-subdomain/acme/assets/link.txt")
        .await;
    assert_eq!(status, 403, "symlinks are refused");
    let (status, _) = app
        .raw_get("/api/tenants/by-subdomain/acme/assets/..%2fglobex%2fsecret.txt")
        .await;
    assert_eq!(status, 403, "encoded traversal is refused");
    let (status, _) = app
        .raw_get("/api/tenants/by-subdomain/acme/assets/missing.png")
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .raw_get("/api/tenants/by-subdomain/nobody/assets/x.png")
        .await;
    assert_eq!(status, 404);
}

async fn deploy_site(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    app.req(Method::PATCH, "/api/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"name": "Acme <Rockets> & Co", "primary_color": "#ff0000"}))
        .send()
        .await
        .expect(200);
    app.req(Method::PUT, "/api/admin/tenants/acme/logo")
        .bearer(&admin)
        .raw(png())
        .send()
        .await
        .expect(200);
    let deployed = app
        .req(Method::POST, "/api/admin/tenants/acme/deploy-site")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    let mut paths: Vec<&str> = deployed["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "site/config.json",
            "site/index.html",
            "site/logo.png",
            "site/theme.css"
        ]
    );
    let site = app.data_dir().join("tenants/acme/site");
    let css = std::fs::read_to_string(site.join("theme.css")).expect("css");
    assert!(css.contains("--primary: #ff0000"), "{css}");
    let html = std::fs::read_to_string(site.join("index.html")).expect("html");
    assert!(
        html.contains("Acme &lt;Rockets&gt; &amp; Co"),
        "names are escaped: {html}"
    );
    assert!(html.contains("data-module=\"attendance\""), "{html}");
    assert!(
        html.contains("locked"),
        "attendance is shown locked: {html}"
    );
    let served = app
        .req(
            Method::GET,
            "/api/tenants/by-subdomain/acme/assets/site/index.html",
        )
        .send()
        .await
        .expect(200);
    assert!(
        served.headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    assert!(
        served.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    app.req(Method::POST, "/api/admin/tenants/nobody/deploy-site")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
}

/// Logos of three formats, each with bytes of its own.
fn logos() -> [(&'static str, Vec<u8>); 3] {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(&[1u8; 64]);
    let mut webp = b"RIFF\0\0\0\0WEBPVP8 ".to_vec();
    webp.extend_from_slice(&[2u8; 64]);
    [("logo.png", png()), ("logo.jpg", jpeg), ("logo.webp", webp)]
}

/// Uploads racing each other: whichever commits last names the logo, and that file
/// is the one on disk (none of another format is left beside it).
async fn concurrent_logo_uploads_leave_the_last_committed_one(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let logos = logos();
    let uploads = (0..24).map(|i| {
        let (_, bytes) = &logos[i % logos.len()];
        app.req(Method::PUT, "/api/admin/tenants/acme/logo")
            .bearer(&admin)
            .raw(bytes.clone())
            .send()
    });
    for answer in futures::future::join_all(uploads).await {
        answer.expect(200);
    }
    let details = app
        .req(Method::GET, "/api/admin/tenants/acme")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    let named = details["logo"].as_str().expect("a logo").to_owned();
    let newest = app
        .req(
            Method::GET,
            "/api/admin/audit?tenant=acme&action=tenant.logo&limit=1",
        )
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(newest["items"][0]["after"]["logo"], named.as_str());
    let served = app
        .req(
            Method::GET,
            &format!("/api/tenants/by-subdomain/acme/assets/{named}"),
        )
        .send()
        .await
        .expect(200);
    let (_, expected) = logos
        .iter()
        .find(|(name, _)| *name == named)
        .expect("one of the uploads");
    assert_eq!(&served.bytes, expected);
    for (name, _) in &logos {
        assert_eq!(
            app.data_dir().join("tenants/acme").join(name).exists(),
            *name == named,
            "{name} beside {named}"
        );
    }
}

/// The change is committed before its `config.json` is written: when the write
/// fails, the change stands (no 500, nothing to retry), the log and the tenant's
/// health say what failed, and the next write that succeeds clears it.
async fn a_failed_file_write_after_a_commit_is_reported_not_an_error(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let config = app.data_dir().join("tenants/acme/config.json");
    // A folder where the file goes: no rename can replace it.
    std::fs::remove_file(&config).expect("config.json written");
    std::fs::create_dir_all(config.join("in-the-way")).expect("a folder in the way");
    let rename = |name: &str| {
        app.req(Method::PATCH, "/api/admin/tenants/acme")
            .bearer(&admin)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(
        rename("Acme Renamed").await.expect(200).body["name"],
        "Acme Renamed"
    );
    let health = |app: &TestApp| {
        app.req(Method::GET, "/api/admin/tenants/acme/health")
            .bearer(&admin)
            .send()
    };
    let unhealthy = health(&app).await.expect(200).body;
    assert_eq!(unhealthy["healthy"], false);
    assert_eq!(unhealthy["files_error"]["file"], "config.json");
    assert!(unhealthy["files_error"]["error"].is_string());
    let host = app
        .req(Method::GET, "/healthz")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(host["status"], "degraded");
    assert_eq!(host["tenant_file_errors"], 1);
    // The public config serves the committed change all along.
    let public = app
        .req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(public["name"], "Acme Renamed");

    std::fs::remove_dir_all(&config).expect("out of the way");
    rename("Acme Again").await.expect(200);
    let healthy = health(&app).await.expect(200).body;
    assert_eq!(healthy["healthy"], true, "{healthy}");
    assert_eq!(healthy["files_error"], Value::Null);
    let host = app
        .req(Method::GET, "/healthz")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(host["tenant_file_errors"], 0);
}

/// A tenant deleted, and its subdomain taken again: the new tenant inherits none of
/// the old one's files, whether the old folder was removed or left behind.
async fn a_reused_subdomain_starts_with_an_empty_folder(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    app.req(Method::PUT, "/api/admin/tenants/acme/logo")
        .bearer(&admin)
        .raw(png())
        .send()
        .await
        .expect(200);
    app.req(Method::DELETE, "/api/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"confirm": "acme"}))
        .send()
        .await
        .expect(204);
    let tenants = app.data_dir().join("tenants");
    assert!(!tenants.join("acme").exists());
    // What a deletion whose folder could not be moved would leave.
    std::fs::create_dir_all(tenants.join("globex")).expect("folder");
    std::fs::write(tenants.join("globex/left-behind.txt"), "old tenant").expect("file");
    for subdomain in ["acme", "globex"] {
        app.req(Method::POST, "/api/admin/tenants")
            .bearer(&admin)
            .json(&json!({"name": "New owner", "subdomain": subdomain}))
            .send()
            .await
            .expect(201);
    }
    for asset in ["acme/assets/logo.png", "globex/assets/left-behind.txt"] {
        app.req(Method::GET, &format!("/api/tenants/by-subdomain/{asset}"))
            .send()
            .await
            .expect_error(404, "not_found");
    }
    let leftovers: Vec<String> = std::fs::read_dir(&tenants)
        .expect("tenants folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
