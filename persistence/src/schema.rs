// Written by hand to match both migration folders; every type here exists on both backends.

diesel::table! {
    units (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        level -> Integer,
        parent_id -> Nullable<Text>,
        path -> Text,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    unit_coverage (unit_id) {
        unit_id -> Text,
        resolution -> Integer,
        cells -> Binary,
        cell_count -> BigInt,
        leaf_cell_count -> BigInt,
        boundary -> Nullable<Text>,
        updated_at -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        roles -> Text,
        active -> Bool,
        must_change_password -> Bool,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::joinable!(unit_coverage -> units (unit_id));
diesel::allow_tables_to_appear_in_same_query!(
    units,
    unit_coverage,
    users,
    meta,
    refresh_tokens,
    revoked_sessions,
    departments
);

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Text,
        expires_at -> Text,
        used_at -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_sessions (family_id) {
        family_id -> Text,
        user_id -> Text,
        reason -> Text,
        revoked_at -> Text,
    }
}

diesel::table! {
    departments (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}
