//! An invoice as a one-page A4 PDF: who it is from and to, its number, dates,
//! lines and totals. Written with `pdf-writer` in the standard Helvetica fonts
//! (every reader has them, nothing is embedded), text in WinAnsi encoding.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::invoice::day;
use crate::store::Tenant;
use crate::store::invoices::Invoice;

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Digits after the decimal point of an ISO 4217 currency's minor unit.
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `amount_minor` in major units with its currency: `USD 1,234.50`, `-USD 5.00`.
pub fn money(amount_minor: i64, currency: &str) -> String {
    let exp = exponent(currency);
    let scale = 10_u64.pow(exp);
    let abs = amount_minor.unsigned_abs();
    let (major, minor) = (abs / scale, abs % scale);
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    if exp == 0 {
        format!("{sign}{currency} {grouped}")
    } else {
        format!(
            "{sign}{currency} {grouped}.{minor:0width$}",
            width = exp as usize
        )
    }
}

/// Text in WinAnsi (the Latin-1 range); anything else prints as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b) if b >= 0x20 && !(0x7f..0xa0).contains(&b) => b,
            _ => b'?',
        })
        .collect()
}

/// Lines of text placed on the page.
struct Page {
    content: Content,
}

impl Page {
    fn text(&mut self, font: Name<'_>, size: f32, (x, y): (f32, f32), text: &str) {
        self.content.begin_text();
        self.content.set_font(font, size);
        self.content.next_line(x, y);
        self.content.show(Str(&win_ansi(text)));
        self.content.end_text();
    }

    /// Right-aligned at `right` (Helvetica's digits are 0.556 em wide; other glyphs
    /// are close enough for a column of amounts).
    fn text_right(&mut self, font: Name<'_>, size: f32, (right, y): (f32, f32), text: &str) {
        #[allow(clippy::cast_precision_loss)]
        let width = text.chars().count() as f32 * size * 0.556;
        self.text(font, size, (right - width, y), text);
    }

    fn rule(&mut self, y: f32) {
        self.content.set_line_width(0.5);
        self.content.move_to(MARGIN, y);
        self.content.line_to(A4.0 - MARGIN, y);
        self.content.stroke();
    }
}

/// The invoice as PDF bytes.
pub fn render(invoice: &Invoice, tenant: &Tenant, platform: &str) -> Vec<u8> {
    let mut page = Page {
        content: Content::new(),
    };
    let right = A4.0 - MARGIN;
    let mut y = A4.1 - MARGIN - 10.0;
    page.text(BOLD, 22.0, (MARGIN, y), platform);
    page.text_right(BOLD, 16.0, (right, y), "INVOICE");
    y -= 36.0;
    let state = invoice.state.as_str().to_uppercase();
    for (label, value) in [
        ("Invoice number", invoice.label.as_str()),
        ("Issued", &day(invoice.issued_at)),
        ("Due", &day(invoice.due_at)),
        ("Status", &state),
    ] {
        page.text(REGULAR, 10.0, (right - 200.0, y), label);
        page.text(BOLD, 10.0, (right - 100.0, y), value);
        y -= 15.0;
    }
    y -= 10.0;
    page.text(BOLD, 11.0, (MARGIN, y), "Bill to");
    y -= 15.0;
    page.text(REGULAR, 11.0, (MARGIN, y), &tenant.name);
    y -= 14.0;
    page.text(
        REGULAR,
        10.0,
        (MARGIN, y),
        &format!("Account: {}", tenant.subdomain),
    );
    if let Some(email) = &tenant.contact_email {
        y -= 14.0;
        page.text(REGULAR, 10.0, (MARGIN, y), email);
    }
    y -= 22.0;
    page.text(
        REGULAR,
        10.0,
        (MARGIN, y),
        &format!(
            "Service period: {} to {}",
            day(invoice.period_start),
            day(invoice.period_end)
        ),
    );
    y -= 28.0;
    page.text(BOLD, 10.0, (MARGIN, y), "Description");
    page.text_right(BOLD, 10.0, (right, y), "Amount");
    y -= 6.0;
    page.rule(y);
    y -= 16.0;
    for line in &invoice.lines {
        page.text(REGULAR, 10.0, (MARGIN, y), &line.description);
        page.text_right(
            REGULAR,
            10.0,
            (right, y),
            &money(line.amount_minor, &invoice.currency),
        );
        y -= 16.0;
    }
    page.rule(y + 8.0);
    y -= 8.0;
    let tax = format!(
        "Tax ({}.{:02} %)",
        invoice.tax_rate_bps / 100,
        invoice.tax_rate_bps % 100
    );
    for (font, label, amount) in [
        (REGULAR, "Subtotal", invoice.subtotal_minor),
        (REGULAR, tax.as_str(), invoice.tax_minor),
        (BOLD, "Total", invoice.total_minor),
    ] {
        page.text(font, 10.0, (right - 200.0, y), label);
        page.text_right(font, 10.0, (right, y), &money(amount, &invoice.currency));
        y -= 16.0;
    }
    page.text(
        REGULAR,
        8.0,
        (MARGIN, MARGIN),
        &format!(
            "Pay with a payment and its proof in {platform}'s billing page; quote {}.",
            invoice.label
        ),
    );

    let (catalog, pages, page_id, regular, bold, content) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
    );
    let mut pdf = Pdf::new();
    pdf.document_info(Ref::new(7))
        .title(TextStr(&format!("Invoice {}", invoice.label)))
        .producer(TextStr(platform));
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page_id]).count(1);
    let mut p = pdf.page(page_id);
    p.media_box(Rect::new(0.0, 0.0, A4.0, A4.1));
    p.parent(pages);
    p.contents(content);
    let mut resources = p.resources();
    let mut fonts = resources.fonts();
    fonts.pair(REGULAR, regular);
    fonts.pair(BOLD, bold);
    fonts.finish();
    resources.finish();
    p.finish();
    for (id, base) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.stream(content, &page.content.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_knows_minor_units() {
        assert_eq!(money(123_450, "USD"), "USD 1,234.50");
        assert_eq!(money(-500, "EUR"), "-EUR 5.00");
        assert_eq!(money(1_000_000, "JPY"), "JPY 1,000,000");
        assert_eq!(money(1_234, "KWD"), "KWD 1.234");
        assert_eq!(money(5, "USD"), "USD 0.05");
    }

    #[test]
    fn text_outside_win_ansi_prints_as_a_question_mark() {
        assert_eq!(win_ansi("Café 日"), b"Caf\xe9 ?".to_vec());
    }
}
