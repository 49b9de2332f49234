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
        display_name -> Text,
        phone_cipher -> Nullable<Binary>,
        phone_key_id -> Nullable<Text>,
        phone_hash -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
        department_id -> Nullable<Text>,
        all_units -> Bool,
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
    departments,
    user_assignments,
    audit_events,
    households,
    residents,
    history,
    visits,
    changes,
    change_sequence,
    outbox,
    idempotency_keys,
    client_ids,
    incident_categories,
    calendar_days,
    incidents,
    incident_departments,
    incident_attachments
);
diesel::joinable!(user_assignments -> units (unit_id));
diesel::joinable!(user_assignments -> users (user_id));
diesel::joinable!(households -> units (unit_id));
diesel::joinable!(residents -> households (household_id));

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

diesel::table! {
    user_assignments (user_id, unit_id) {
        user_id -> Text,
        unit_id -> Text,
        capture -> Bool,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Nullable<Text>,
        action -> Text,
        subject_type -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        unit_path -> Nullable<Text>,
        address -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    households (id) {
        id -> Text,
        unit_id -> Text,
        address -> Text,
        lon -> Double,
        lat -> Double,
        cell -> BigInt,
        unit_reason -> Nullable<Text>,
        tags -> Text,
        notes -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    residents (id) {
        id -> Text,
        household_id -> Text,
        name -> Text,
        gender -> Nullable<Text>,
        birth_date -> Nullable<Text>,
        relation -> Text,
        id_card_cipher -> Nullable<Binary>,
        id_card_key_id -> Nullable<Text>,
        id_card_hash -> Nullable<Text>,
        id_card_masked -> Nullable<Text>,
        phone_cipher -> Nullable<Binary>,
        phone_key_id -> Nullable<Text>,
        phone_hash -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
        tags -> Text,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    history (id) {
        id -> Text,
        entity -> Text,
        entity_id -> Text,
        at -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Nullable<Text>,
        kind -> Text,
        version -> Nullable<BigInt>,
        details -> Text,
    }
}

diesel::table! {
    changes (id) {
        id -> Text,
        position -> Nullable<BigInt>,
        entity -> Text,
        entity_id -> Text,
        version -> BigInt,
        deleted -> Bool,
        unit_path_before -> Nullable<Text>,
        unit_path_after -> Nullable<Text>,
        at -> Text,
    }
}

diesel::table! {
    change_sequence (id) {
        id -> Integer,
        last_position -> BigInt,
        pruned_through -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        event_type -> Text,
        aggregate_type -> Text,
        aggregate_id -> Text,
        aggregate_version -> BigInt,
        payload -> Text,
        occurred_at -> Text,
        delivered_at -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (account_id, key) {
        account_id -> Text,
        key -> Text,
        request_hash -> Text,
        owner -> Nullable<Text>,
        locked_until -> Nullable<Text>,
        status -> Nullable<Integer>,
        headers -> Nullable<Text>,
        body -> Nullable<Binary>,
        body_key_id -> Nullable<Text>,
        created_at -> Text,
        expires_at -> Text,
    }
}

diesel::table! {
    client_ids (id) {
        id -> Text,
        entity -> Text,
        digest -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    visits (id) {
        id -> Text,
        household_id -> Text,
        unit_id -> Text,
        visitor_id -> Text,
        visited_at -> Text,
        lon -> Nullable<Double>,
        lat -> Nullable<Double>,
        notes -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    incident_categories (code) {
        code -> Text,
        parent_code -> Nullable<Text>,
        name -> Text,
        key -> Text,
        department_id -> Nullable<Text>,
        lowest_level -> Integer,
        routing -> Text,
        time_limits -> Text,
        retired -> Bool,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    calendar_days (day) {
        day -> Text,
        kind -> Text,
        name -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        category_code -> Text,
        priority -> Text,
        status -> Text,
        held_from -> Nullable<Text>,
        description -> Text,
        lon -> Double,
        lat -> Double,
        cell -> BigInt,
        household_id -> Nullable<Text>,
        locality_unit_id -> Text,
        owner_unit_id -> Text,
        department_id -> Nullable<Text>,
        routing_rule -> Text,
        routing_explanation -> Text,
        reporter_id -> Nullable<Text>,
        anonymous -> Bool,
        merged_into -> Nullable<Text>,
        extension_pending -> Bool,
        register_due -> Nullable<Text>,
        sign_due -> Nullable<Text>,
        close_due -> Nullable<Text>,
        next_due -> Nullable<Text>,
        clock_noted -> Nullable<Text>,
        escalations -> Integer,
        satisfied -> Nullable<Bool>,
        created_at -> Text,
        updated_at -> Text,
        closed_at -> Nullable<Text>,
        version -> BigInt,
    }
}

diesel::table! {
    incident_reporters (incident_id) {
        incident_id -> Text,
        name_cipher -> Nullable<Binary>,
        name_key_id -> Nullable<Text>,
        name_masked -> Nullable<Text>,
        phone_cipher -> Nullable<Binary>,
        phone_key_id -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
    }
}

diesel::table! {
    incident_measures (incident_id) {
        incident_id -> Text,
        registered_at -> Nullable<Text>,
        dispatched_at -> Nullable<Text>,
        signed_at -> Nullable<Text>,
        sign_seconds -> Nullable<BigInt>,
        due_at -> Nullable<Text>,
        close_seconds -> Nullable<BigInt>,
        on_time -> Nullable<Bool>,
        callback_at -> Nullable<Text>,
    }
}

diesel::table! {
    incident_departments (incident_id, department_id) {
        incident_id -> Text,
        department_id -> Text,
        summoned_at -> Text,
        report_in_due -> Text,
        reported_in_at -> Nullable<Text>,
        missed_at -> Nullable<Text>,
    }
}

diesel::table! {
    incident_attachments (incident_id, hash, kind) {
        incident_id -> Text,
        hash -> Text,
        kind -> Text,
        media_type -> Text,
        size_bytes -> BigInt,
        uploaded_by -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    incident_daily_units (unit_id, day, own) {
        unit_id -> Text,
        day -> Text,
        own -> Bool,
        registered -> BigInt,
        due -> BigInt,
        closed -> BigInt,
        closed_on_time -> BigInt,
        closed_in_period -> BigInt,
        replied -> BigInt,
        satisfied -> BigInt,
        signed -> BigInt,
        sign_seconds -> BigInt,
        close_seconds -> BigInt,
    }
}

diesel::table! {
    incident_daily_categories (unit_id, day, category_code) {
        unit_id -> Text,
        day -> Text,
        category_code -> Text,
        registered -> BigInt,
        due -> BigInt,
        closed -> BigInt,
        closed_on_time -> BigInt,
        closed_in_period -> BigInt,
        replied -> BigInt,
        satisfied -> BigInt,
        signed -> BigInt,
        sign_seconds -> BigInt,
        close_seconds -> BigInt,
    }
}

diesel::table! {
    incident_overdue (unit_id, category_code, own) {
        unit_id -> Text,
        category_code -> Text,
        own -> Bool,
        n -> BigInt,
    }
}

diesel::table! {
    patrols (id) {
        id -> Text,
        unit_id -> Text,
        walker_id -> Text,
        started_at -> Text,
        finished_at -> Nullable<Text>,
        points -> BigInt,
        duplicates -> BigInt,
        distance_m -> Nullable<Double>,
        duration_s -> Nullable<BigInt>,
        cells -> Nullable<Text>,
        flags -> Nullable<Text>,
        accepted -> Nullable<BigInt>,
        ignored -> Nullable<BigInt>,
        first_fix_at -> Nullable<Text>,
        last_fix_at -> Nullable<Text>,
        created_at -> Text,
        updated_at -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    patrol_points (patrol_id, at) {
        patrol_id -> Text,
        at -> Text,
        lon -> Double,
        lat -> Double,
        accuracy_m -> Double,
        received_at -> Text,
    }
}

diesel::joinable!(patrol_points -> patrols (patrol_id));
diesel::allow_tables_to_appear_in_same_query!(patrols, patrol_points, units);

diesel::table! {
    blob_uploads (account_id, hash) {
        account_id -> Text,
        hash -> Text,
        total_bytes -> BigInt,
        received_bytes -> BigInt,
        media_type -> Nullable<Text>,
        created_at -> Text,
        completed_at -> Nullable<Text>,
    }
}

diesel::table! {
    visit_rules (tag) {
        tag -> Text,
        every_days -> Integer,
        version -> BigInt,
        updated_at -> Text,
    }
}

diesel::table! {
    sync_scopes (user_id, tag) {
        user_id -> Text,
        tag -> Text,
        scope -> Text,
        created_at -> Text,
    }
}
