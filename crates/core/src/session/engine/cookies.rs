//! The session's cookies: opening the sealed records (version 1 cookies read
//! as records), storing them, and clearing them.

use super::*;

impl Engine {
    /// Opens the sealed cookie `name`: `Ok(None)` when absent (or when no
    /// keyring is configured), a `cookie-unsealable` refusal when it cannot be
    /// opened.
    pub(super) fn open(
        &self,
        jar: &CookieJar,
        name: &str,
        now: u64,
    ) -> Result<Option<(Vec<u8>, Format)>, Refusal> {
        let Some(keyring) = &self.keyring else {
            return Ok(None);
        };
        let Some(sealed) = jar.get_joined(name)? else {
            return Ok(None);
        };
        keyring.open_versioned(name, &sealed, now).map(Some)
    }

    /// The session cookie's record (a version 1 cookie read as one).
    pub(super) fn open_session(&self, jar: &CookieJar, now: u64) -> Result<Option<SessionRecord>, Refusal> {
        let name = &self.names.session;
        self.open(jar, name, now)?
            .map(|(plain, format)| match format {
                Format::Current => SessionRecord::from_json(&plain),
                Format::Legacy => legacy_text(plain, name).map(SessionRecord::legacy),
            })
            .transpose()
    }

    /// The refresh cookie's record (a version 1 cookie read as one).
    pub(super) fn open_refresh(&self, jar: &CookieJar, now: u64) -> Result<Option<RefreshRecord>, Refusal> {
        let name = &self.names.refresh;
        self.open(jar, name, now)?
            .map(|(plain, format)| match format {
                Format::Current => RefreshRecord::from_json(&plain),
                Format::Legacy => legacy_text(plain, name).map(|refresh_token| RefreshRecord {
                    id: String::new(),
                    refresh_token,
                }),
            })
            .transpose()
    }

    pub(super) fn template(&self, name: &str, max_age: u64) -> SetCookie {
        SetCookie {
            secure: self.config.cookies.secure,
            same_site: self.config.cookies.same_site,
            ..SetCookie::new(name, "").max_age(max_age)
        }
    }

    pub(super) fn clear(&self, jar: &CookieJar, name: &str) -> Vec<SetCookie> {
        cookie::clear(jar, &self.template(name, 0))
    }

    pub(super) fn clear_session(&self, jar: &CookieJar) -> Vec<SetCookie> {
        let mut out = self.clear(jar, &self.names.session);
        out.extend(self.clear(jar, &self.names.refresh));
        out
    }

    /// Seals and stores the session record and (when not empty) the refresh
    /// token, bound to the record's session id.
    pub(super) fn store_session(
        &self,
        jar: &CookieJar,
        record: &SessionRecord,
        refresh: &str,
        ctx: &mut Ctx,
    ) -> Result<Vec<SetCookie>, Refusal> {
        let Some(keyring) = &self.keyring else {
            return Err(refuse!(
                CookieUnsealable,
                "no cookieKeys are configured, so the session cannot be stored"
            ));
        };
        let max_age = self.config.cookies.session_max_age;
        let until = ctx.now.saturating_add(max_age);
        let mut out = Vec::new();
        let session = record.to_json();
        let refresh = if refresh.is_empty() {
            String::new()
        } else {
            RefreshRecord {
                id: record.id.clone(),
                refresh_token: String::from(refresh),
            }
            .to_json()
        };
        for (name, value) in [(&self.names.session, session), (&self.names.refresh, refresh)] {
            if value.is_empty() {
                out.extend(self.clear(jar, name));
                continue;
            }
            let sealed = keyring.seal(name, value.as_bytes(), until, ctx.entropy.nonce());
            let cookies = cookie::store(jar, &self.template(name, max_age), &sealed).map_err(|why| {
                refuse!(
                    CallbackError,
                    "the provider's tokens cannot be stored in cookies: {why}"
                )
            })?;
            out.extend(cookies);
        }
        Ok(out)
    }
}

/// A version 1 cookie's text.
pub(super) fn legacy_text(plain: Vec<u8>, name: &str) -> Result<String, Refusal> {
    String::from_utf8(plain).map_err(|_| refuse!(CookieUnsealable, "cookie {name:?} does not hold text"))
}
