//! JavaScript arguments in, errors out: every export checks its raw `JsValue` arguments here, so
//! a wrong one becomes an error that names it (see the module head of `workerd`).

use js_sys::{Date, Reflect};
use wasm_bindgen::prelude::*;

use crate::base::args::Args;
use crate::base::error::{Error, Result};

pub(super) fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

pub(super) fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

pub(super) fn now() -> i64 {
    Date::now() as i64
}

pub(super) fn string_arg(argument: &'static str, value: &JsValue) -> Result<String> {
    let Some(js) = value.dyn_ref::<js_sys::JsString>() else {
        return Err(Error::invalid(
            argument,
            format!("must be a string, got {}", type_name(value)),
        ));
    };
    if !js.is_valid_utf16() {
        return Err(Error::invalid(
            argument,
            "must be well-formed Unicode (it contains a lone surrogate)",
        ));
    }
    Ok(String::from(js))
}

pub(super) fn number_arg(argument: &'static str, value: &JsValue) -> Result<f64> {
    value.as_f64().ok_or_else(|| {
        Error::invalid(
            argument,
            format!("must be a number, got {}", type_name(value)),
        )
    })
}

pub(super) fn optional_string_arg(
    argument: &'static str,
    value: &JsValue,
) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        string_arg(argument, value).map(Some)
    }
}

/// A request id (or lock token) and the retry flag that comes after it.
pub(super) fn attempt_arg(
    argument: &'static str,
    id: &JsValue,
    retry: &JsValue,
) -> Result<Option<(String, bool)>> {
    let id = optional_string_arg(argument, id)?;
    let retry = if retry.is_undefined() || retry.is_null() {
        false
    } else {
        retry.as_bool().ok_or_else(|| {
            Error::invalid(
                "retry",
                format!("must be a boolean, got {}", type_name(retry)),
            )
        })?
    };
    Ok(id.map(|id| (id, retry)))
}

pub(super) fn optional_number_arg(argument: &'static str, value: &JsValue) -> Result<Option<f64>> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        number_arg(argument, value).map(Some)
    }
}

pub(super) fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if value.is_array() {
        "an array".into()
    } else {
        value
            .js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

pub(super) fn field(object: &JsValue, name: &str) -> Result<JsValue> {
    Reflect::get(object, &JsValue::from_str(name)).map_err(|e| Error::storage(js_message(&e)))
}

/// Runs one store operation, turning its error into a JS `Error`.
pub(super) fn run<T>(op: impl FnOnce() -> Result<T>) -> std::result::Result<T, JsError> {
    op().map_err(js_error)
}

/// A data call's arguments as the object passes them: one JS array, in wire order (see
/// `base::args`). An index past its end reads as `undefined`, as a missing positional would.
pub(super) struct JsArgs(pub js_sys::Array);

impl JsArgs {
    fn at(&self, at: usize) -> JsValue {
        self.0.get(at as u32)
    }
}

impl Args for JsArgs {
    fn string(&self, at: usize, argument: &'static str) -> Result<String> {
        string_arg(argument, &self.at(at))
    }

    fn optional_string(&self, at: usize, argument: &'static str) -> Result<Option<String>> {
        optional_string_arg(argument, &self.at(at))
    }

    fn number(&self, at: usize, argument: &'static str) -> Result<f64> {
        number_arg(argument, &self.at(at))
    }

    fn optional_number(&self, at: usize, argument: &'static str) -> Result<Option<f64>> {
        optional_number_arg(argument, &self.at(at))
    }

    fn attempt(&self, at: usize, argument: &'static str) -> Result<Option<(String, bool)>> {
        attempt_arg(argument, &self.at(at), &self.at(at + 1))
    }

    fn has_options(&self, at: usize, argument: &'static str) -> Result<bool> {
        let options = self.at(at);
        if options.is_undefined() || options.is_null() {
            Ok(false)
        } else if options.is_object() {
            Ok(true)
        } else {
            Err(Error::invalid(
                argument,
                format!("must be an object, got {}", type_name(&options)),
            ))
        }
    }

    fn option_number(
        &self,
        at: usize,
        field_name: &'static str,
        argument: &'static str,
    ) -> Result<Option<f64>> {
        optional_number_arg(argument, &field(&self.at(at), field_name)?)
    }
}
