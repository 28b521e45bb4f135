import CinderCosts
import CinderModel
import CinderStorage
import Logging

/// The organizations' prices as a service prices spans with them: the built-in table, and each
/// organization's own prices read from `database` (none without one). Nil with cost tracking off.
package func organizationPrices(_ configuration: CinderConfiguration, database: Database?, logger: Logger) -> OrganizationPrices? {
    guard configuration.costTracking else { return nil }
    guard let database else { return OrganizationPrices { _ in [] } }
    let installation = database.installation(logger: logger)
    return OrganizationPrices { organization in
        let rows: [GenerativeModelRow]
        do {
            rows = try await installation.generativeModels(of: organization)
        } catch {
            logger.warning(
                "cannot read an organization's model prices; pricing with what is known",
                metadata: ["cinder.org": "\(organization.rawValue)", "cinder.error": "\(error)"])
            throw error
        }
        return rows.compactMap { row in
            do {
                return try ModelPrice(
                    name: row.name, provider: row.provider ?? "", namePattern: row.namePattern, prices: TokenPrice.parse(stored: row.tokenPrices))
            } catch {
                logger.warning("a model price has an invalid name pattern", metadata: ["cinder.model": "\(row.name)"])
                return nil
            }
        }
    }
}
