//! `INKAN_*` variables that name no setting. The environment is read only
//! for the names inkan knows, so a misspelt one (`INKAN_ISUER`) would be
//! ignored without a word, and the server would start with the file's
//! value or the default instead. Each such variable is reported, with the
//! nearest known name when one is close.

use std::ffi::OsString;

use super::settings::ENV_SETTINGS;

/// Variables inkan reads that are not settings: the config file's path,
/// and dev mode's refusal (see `Settings::load`).
const OTHER_NAMES: &[&str] = &["CONFIG", "DEV"];

/// Prefixes of variables that belong to inkan's own test suite, not to a
/// deployment.
const TEST_PREFIXES: &[&str] = &["TEST_", "REQUIRE_BACKENDS"];

/// One line per `INKAN_*` variable in `vars` that names nothing inkan
/// reads, naming the nearest known variable when it is close enough to be
/// a slip. Values are never read: they may be secrets.
pub fn unknown_env_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<String> {
    let known: Vec<String> = ENV_SETTINGS
        .iter()
        .map(|name| name.to_ascii_uppercase())
        .chain(OTHER_NAMES.iter().map(|name| (*name).to_owned()))
        .collect();
    let mut lines: Vec<String> = vars
        .into_iter()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter_map(|name| {
            let setting = name.strip_prefix("INKAN_")?;
            // The environment reader matches names in any case.
            if known.iter().any(|k| k.eq_ignore_ascii_case(setting))
                || TEST_PREFIXES.iter().any(|p| setting.starts_with(p))
            {
                return None;
            }
            Some(match nearest(setting, &known) {
                Some(near) => format!(
                    "{name} is not an inkan setting and is ignored; did you mean INKAN_{near}?"
                ),
                None => format!(
                    "{name} is not an inkan setting and is ignored (the settings are listed in the README)"
                ),
            })
        })
        .collect();
    lines.sort();
    lines
}

/// The known name closest to `name`, if within a slip: a few edits, fewer
/// for short names, so `INKAN_FOO` suggests nothing.
fn nearest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let upper = name.to_ascii_uppercase();
    known
        .iter()
        .map(|k| (strsim::levenshtein(&upper, k), k))
        .filter(|(distance, k)| *distance <= (k.len() / 4).clamp(1, 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str]) -> Vec<String> {
        unknown_env_vars(
            names
                .iter()
                .map(|n| (OsString::from(n), OsString::from("secret-value"))),
        )
    }

    #[test]
    fn a_misspelt_variable_is_named_with_the_nearest_setting() {
        let lines = check(&["INKAN_ISUER", "INKAN_DATABASE_URL_FIEL", "INKAN_KEY_FILE"]);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines
            .iter()
            .any(|l| l.starts_with("INKAN_ISUER ") && l.ends_with("INKAN_ISSUER?")));
        assert!(lines
            .iter()
            .any(|l| l.ends_with("INKAN_DATABASE_URL_FILE?")));
        assert!(lines.iter().any(|l| l.ends_with("INKAN_KEYS_FILE?")));
        assert!(lines.iter().all(|l| !l.contains("secret-value")));
    }

    #[test]
    fn known_names_and_other_programs_variables_pass() {
        assert!(check(&[
            "INKAN_ISSUER",
            "INKAN_issuer",
            "INKAN_CONFIG",
            "INKAN_DATABASE_URL_FILE",
            "INKAN_TEST_DATABASE_URL",
            "PATH",
            "MY_INKAN_THING",
        ])
        .is_empty());
    }

    #[test]
    fn a_name_far_from_every_setting_is_reported_without_a_guess() {
        let lines = check(&["INKAN_FOO"]);
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains("did you mean"), "{lines:?}");
    }
}
