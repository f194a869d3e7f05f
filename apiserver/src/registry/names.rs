//! Name and key syntax checks, as apimachinery's `validation` package words
//! them: the shared ones from `k1s_proto::validation`, under the names the
//! strategies use (env var names follow the relaxed rule, the 1.33 default).

pub use k1s_proto::validation::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_relaxed_env_var_name as is_env_var_name, is_valid_ip, is_valid_label_value, is_valid_port_name,
    is_valid_port_num,
};
