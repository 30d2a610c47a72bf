// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (never a downloaded
// browser), and the chat example's form.
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  })
}

/** Opens the chat example at `url` and joins the lobby as `username`. */
export async function enterRoom(page: Page, url: string, username: string): Promise<void> {
  await page.goto(url)
  await page.fill('#username', username)
  await page.fill('#room', 'lobby')
  await page.click('#join-button')
}
