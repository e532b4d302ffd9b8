//! Schema migrations: sqlx applies them and checks that every applied one still has
//! the bytes it was applied with. A released migration is never edited; the test
//! below holds each file to its released checksum.

use sqlx::migrate::{MigrateError, Migrator};

use super::{Db, Dialect};

/// Migrations that were edited after release and then restored to their released
/// bytes (0005, a comment): a database migrated while the edited file was current
/// recorded the edited file's SHA-384. The schema is the same, so the repair records
/// the restored file's checksum in its place.
const SUPERSEDED_CHECKSUMS: &[(Dialect, i64, &str)] = &[
    (
        Dialect::Sqlite,
        5,
        "b2e2cfbb3d91b20ab8ed8ce50948b5a35009d6726fcd4a6e754e573a058060e299c8c63dd4442a21da41046537e86f4c",
    ),
    (
        Dialect::Postgres,
        5,
        "7da281f6ae133a2fe599651908e230f3cf5cb03339825a9fc90de30808fef9557ec0f6406940363d65d68071d12409ea",
    ),
];

impl Db {
    /// Applies pending migrations of this dialect.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        let migrator: Migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        self.repair_superseded_checksums(&migrator).await?;
        migrator.run(&self.pool).await
    }

    async fn repair_superseded_checksums(&self, migrator: &Migrator) -> Result<(), MigrateError> {
        let exists = match self.dialect {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let tables: i64 = sqlx::query_scalar(exists).fetch_one(&self.pool).await?;
        if tables == 0 {
            return Ok(());
        }
        for (dialect, version, superseded) in SUPERSEDED_CHECKSUMS {
            let Some(current) = migrator.iter().find(|m| m.version == *version) else {
                continue;
            };
            if *dialect != self.dialect {
                continue;
            }
            let superseded = hex::decode(superseded).expect("a valid hex constant");
            let repaired = sqlx::query(
                "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3",
            )
            .bind(current.checksum.to_vec())
            .bind(version)
            .bind(superseded)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if repaired > 0 {
                tracing::info!(
                    version,
                    "recorded the restored checksum of a migration edited after release"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha384};

    /// Every migration file (the main database's per dialect, and SQLite's per-tenant
    /// module data) with the SHA-384 it was released with. A new migration
    /// adds its line here; an existing line never changes.
    const RELEASED: &[(&str, &str)] = &[
        (
            "postgres/0001_foundation.sql",
            "1ecd23dfa1c230dd70e24c520f8e004c2df10d89eee28abf7ba0358533aa495ed4041fb194b205541af4890c559d28ae",
        ),
        (
            "postgres/0002_accounts.sql",
            "bcdaea00e99762500dfdfeaf925fd01c2be062d1f2634284cad0041ebd682b4aeaacc20fad6acc540fc01ea5cabfaa6f",
        ),
        (
            "postgres/0003_one_time_tokens_and_mail.sql",
            "0a62015ede56cfdbec472c8ba05ecb8e1acb44349c38fbd7dcd8ec2d65710bdc364d66ac4faf0846be05eb827bf11479",
        ),
        (
            "postgres/0004_revoked_sessions.sql",
            "12847db6da17d89064f625fe9399a4665c11fac37aacd308c35446d9eb8fa54c7ee25e4845efe37566da82bbd70e7116",
        ),
        (
            "postgres/0005_control_plane.sql",
            "9df883b43ea266316afd780bd17fc1fc0a04f8179b7621f9bc6d6eb71af6c85eacc2d49e5fe61cf28c84ebdbbcc2f77c",
        ),
        (
            "postgres/0006_event_delivery.sql",
            "3779af062d8646cd32f0f6d78e154e9f0e9566b497850f89b1b172642e51bf4f4dcd0891677ae2a0ba3a728a7c6741c1",
        ),
        (
            "postgres/0007_files_and_schedules.sql",
            "c1b077083e18fdb2cd4995f13c945ab2deb18196a6970ad3488ad0abbf034804d44d0e4abfc0d4475f37474d663a83d6",
        ),
        (
            "postgres/0008_schedule_plans.sql",
            "7510a14919699f6aaac2062363fe198ff44b64148f5b98bf91707ca367f6bba2bd66c3ca291ce10a295ac52a97bb4138",
        ),
        (
            "postgres/0009_plans.sql",
            "4a115081b8209bf1e8ffab37752a955d8e15ac2c7519f9ecc4c0aeddca6e01f1f82c78ed195b8a9d1dadae07ba1c73f0",
        ),
        (
            "postgres/0010_subscriptions.sql",
            "2590fa309c2c0aa2d3ae03d73213f652c75e67c2927b06a648853719ff05ecf45c09df35738169b799360157204841ce",
        ),
        (
            "postgres/0011_plan_pauses.sql",
            "6a3a23604f02c4728e12a2566e00cc79cb86593428d3e1981a6301955c7e9168f060adc2d4ef7dc5cdcfa31ff127700c",
        ),
        (
            "postgres/0012_invoices_payments_usage.sql",
            "1ae04269aed1e0ef3ecebfd8bcc5e02679f22126ccbf60bb69b197a6839faf21372af8000d1b66a25e14d6641aaec437",
        ),
        (
            "postgres/0013_module_packages.sql",
            "3dda663db8d791570a6ad3fa5b93326909eed26cd36afd6b73b7d5be8e0df6125c627c1403845b78afcc2696b75f5c09",
        ),
        (
            "postgres/0014_login_failures.sql",
            "16c04a0bf3175dc00d7fb1f9aababdabe5c8cd99b84e4df545936b0cca7fc3aefd6d4f6c491988e88af0ee3b0b5e7954",
        ),
        (
            "postgres/0015_audit_seal.sql",
            "1526a8600952fa93ff92b2cfeed25e3e8108c119c41c5474728f62d177376ac47e1fc7263b54d0ef84c4ae5758a989a7",
        ),
        (
            "postgres/0016_replicas.sql",
            "a4a09106bbf152cfc97745ea97641f283d40c2f412ec0f2906639b26309592a27bb6ab1d6ce86f37c9a5db8eaf46e4e5",
        ),
        (
            "sqlite/0001_foundation.sql",
            "17262874f0eb5bcba6e3382541e505d240722f583ab6dc2f28cfb264ab49fd3b4ab171eedfb450537753360d4e28bb42",
        ),
        (
            "sqlite/0002_accounts.sql",
            "e6059a5e3131b98595a2abc98fe5a1854afcc4322616587c04e06158be5e4a5efa0112593f3ab83d7943c06cbe127938",
        ),
        (
            "sqlite/0003_one_time_tokens_and_mail.sql",
            "9d3635b4b400aa98e7949ef4634100994b5a649b382f5cc21c9a0699ba265709ab08d6ef6e4abc97178170bc42a64b7a",
        ),
        (
            "sqlite/0004_revoked_sessions.sql",
            "fbd7651ec40ccc25d0035a4012e183b19490e94b7038d2d4627c4ec82e666754782b9b2b13a8001b62c0c0067c72817c",
        ),
        (
            "sqlite/0005_control_plane.sql",
            "b1a0eccc46e1138173f7d0413b0557e43ce16ce0b103c980548a8f5185dba003553d9e4f1686793e950b7d83d537bd69",
        ),
        (
            "sqlite/0006_event_delivery.sql",
            "de6e8372a1ba4f04f0e920ec0ab374bc43f713d81bddbbbfc008bb694aca7a60bab6eb65746f7cdbd5a10802fc8ab531",
        ),
        (
            "sqlite/0007_files_and_schedules.sql",
            "2fbc5ca296040a4196923de1bff2a488d576aaa83ab9ff7f7b12f719d1ae26a155af0ddc0ab2606fc21689fe608cae56",
        ),
        (
            "sqlite/0008_schedule_plans.sql",
            "7510a14919699f6aaac2062363fe198ff44b64148f5b98bf91707ca367f6bba2bd66c3ca291ce10a295ac52a97bb4138",
        ),
        (
            "sqlite/0009_plans.sql",
            "bf9aa870c6a753f6469e7fe5170320d35bb8af6460a03d784c831c3a2189318e55498f4e93629a133f4cf0b5f173ef2b",
        ),
        (
            "sqlite/0010_subscriptions.sql",
            "0a0a848a57a1b0c23603a80f7b4e67821c6ad919eeca0950e1d331e66a1c7944c36fd4000c66503b30b6b0403a581b3f",
        ),
        (
            "sqlite/0011_plan_pauses.sql",
            "4ca612344ca07f4d4a489730af85db326eaf9bf2eb9329cc5f35f4e84c587c3ff4cff1927e406bdfbc0926e74858476e",
        ),
        (
            "sqlite/0012_invoices_payments_usage.sql",
            "c9b93f128606ce108042249989dce160520b35e9eccf83b5d5ba8686112e898b7e39dc9e80b311c6aa49c417d91649b4",
        ),
        (
            "sqlite/0013_module_packages.sql",
            "ed9201facc4ef850e3fdda82f023daccff40cce26c482eacdee03ba73b63dd27395968ea95c14ddea045455c0435b66d",
        ),
        (
            "sqlite/0014_login_failures.sql",
            "51b9bcfd63a2a7d84e609b710ad9bb7c023fced40cc5b0c4e709f0a6ffa882a7219f56ab9eea3443dcdf7d6204633da6",
        ),
        (
            "sqlite/0015_audit_seal.sql",
            "ba6109102ae889502473eb474cfba6a942d07181bd9580e328710fb2df7446df35d709b52bd987b73a018326d7a0909b",
        ),
        (
            "sqlite/0016_replicas.sql",
            "a4a09106bbf152cfc97745ea97641f283d40c2f412ec0f2906639b26309592a27bb6ab1d6ce86f37c9a5db8eaf46e4e5",
        ),
        (
            "sqlite-tenant/0001_module_data.sql",
            "a9f4400037288f6df94108321d08f32dd818748aadfee0ab97d2e29e99b93a8ff55e75b0edcf54b5f860192c311be4d2",
        ),
        (
            "sqlite-tenant/0002_event_delivery.sql",
            "d12aa4ee8a81b3965f30cc7ba2da8f78fbcf880fafe71c18bb771a0cf23fe8a10b1a5ee50a98a1cffbcd0723f55d6cd2",
        ),
        (
            "sqlite-tenant/0003_files.sql",
            "125596b95f40ad2ded022440e33004ad32c19245a3d556df17a2bd65822201e9e6195fda4aa561ae6e7cf3f6eb4652ee",
        ),
        (
            "sqlite-tenant/0004_usage.sql",
            "bc620cf1d5ccb473c0beb33db003bb68eb593b5d1bb389f33465de57b6dfc972f56329544f56cd270e17132f5ab425c2",
        ),
    ];

    #[test]
    fn released_migrations_are_never_edited() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut found = Vec::new();
        for dialect in ["postgres", "sqlite", "sqlite-tenant"] {
            for entry in std::fs::read_dir(root.join(dialect)).expect("migrations folder") {
                let name = entry.expect("directory entry").file_name();
                found.push(format!("{dialect}/{}", name.to_string_lossy()));
            }
        }
        found.sort();
        let mut listed: Vec<&str> = RELEASED.iter().map(|(path, _)| *path).collect();
        listed.sort_unstable();
        assert_eq!(
            found, listed,
            "every migration file must be listed in RELEASED with its checksum"
        );
        for (path, released) in RELEASED {
            let bytes = std::fs::read(root.join(path)).expect("migration file");
            assert_eq!(
                hex::encode(Sha384::digest(&bytes)),
                *released,
                "{path} was edited after release: add a new migration instead"
            );
        }
    }
}
