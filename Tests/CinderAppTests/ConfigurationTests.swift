import CinderApp
import Testing

/// The settings a Kubernetes deployment depends on: migrations as their own step, the schema wait and the
/// shutdown deadline, with clear refusals of values that cannot work.
@Suite struct ConfigurationTests {
    @Test func deploymentSettingsHaveSafeDefaults() throws {
        let configuration = try CinderConfiguration(environment: ["HOME": "/tmp"])
        #expect(configuration.migrateOnStart)
        #expect(configuration.schemaWaitSeconds == 300)
        #expect(configuration.shutdownTimeoutSeconds == 30)
    }

    @Test func deploymentSettingsAreReadFromTheEnvironment() throws {
        let configuration = try CinderConfiguration(environment: [
            "HOME": "/tmp", "CINDER_MIGRATE_ON_START": "false", "CINDER_SCHEMA_WAIT_SECONDS": "600",
            "CINDER_SHUTDOWN_TIMEOUT_SECONDS": "50",
        ])
        #expect(!configuration.migrateOnStart)
        #expect(configuration.schemaWaitSeconds == 600)
        #expect(configuration.shutdownTimeoutSeconds == 50)
    }

    @Test(arguments: [
        ("CINDER_MIGRATE_ON_START", "sometimes", "CINDER_MIGRATE_ON_START must be true or false"),
        ("CINDER_SCHEMA_WAIT_SECONDS", "-1", "CINDER_SCHEMA_WAIT_SECONDS must be a positive integer"),
        ("CINDER_SHUTDOWN_TIMEOUT_SECONDS", "0", "CINDER_SHUTDOWN_TIMEOUT_SECONDS must be a positive integer"),
    ])
    func impossibleValuesAreRefusedWithTheirName(name: String, value: String, message: String) {
        #expect {
            _ = try CinderConfiguration(environment: ["HOME": "/tmp", name: value])
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}
